# Maps the system the output is for to a C compiler: the recipe cross-compiles
# whenever $system differs from $platform (the system it is built on).
set -e
case "$system" in
  x86_64-linux)  CC=x86_64-linux-gnu-gcc ;;
  aarch64-linux) CC=aarch64-linux-gnu-gcc ;;
  *) echo "no C toolchain for $system" >&2; exit 1 ;;
esac
echo "compiling hello.c for $system on $platform with $CC"
mkdir -p "$out/bin"
"$CC" -static -O2 -o "$out/bin/hello" hello.c
