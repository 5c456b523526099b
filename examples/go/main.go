// A tiny program that says which system it was built for. Run as a builder (with $out set),
// it writes its greeting into $out/greeting.txt instead of standard output.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

func main() {
	greeting := fmt.Sprintf("Hello from %s/%s\n", runtime.GOOS, runtime.GOARCH)
	out := os.Getenv("out")
	if out == "" {
		fmt.Print(greeting)
		return
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(out, "greeting.txt"), []byte(greeting), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
