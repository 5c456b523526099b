/* A tiny program that says which machine it was built for. Run with $out set (as a
 * builder), it writes its greeting into $out/greeting.txt instead of stdout. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#if defined(__aarch64__)
#define ARCH "aarch64"
#elif defined(__x86_64__)
#define ARCH "x86_64"
#else
#define ARCH "unknown"
#endif

int main(void) {
    const char *out = getenv("out");
    FILE *f = stdout;
    if (out != NULL) {
        char path[4096];
        mkdir(out, 0755);
        snprintf(path, sizeof path, "%s/greeting.txt", out);
        f = fopen(path, "w");
        if (f == NULL) { perror(path); return 1; }
    }
    fprintf(f, "Hello from %s-linux\n", ARCH);
    return f == stdout ? 0 : fclose(f);
}
