# Compiles hello.c for $system (the system the output is for) on $platform (the system
# this build runs on): a cross-compile whenever the two differ. The toolchain
# derivation maps a system to a C compiler.
set -e
CC="$("$toolchain/bin/cc-for" "$system")"
echo "compiling hello.c for $system on $platform with $CC"
mkdir -p "$out/bin"
"$CC" -static -O2 -o "$out/bin/hello" hello.c
