# Compiles hello.c for $system (the system the output is for) on $platform (the system
# this build runs on): a cross-compile whenever the two differ. $PATH holds the seed
# library's C toolchain for $system, whose `cc` compiles for it.
set -e
echo "compiling hello.c for $system on $platform with $(command -v cc)"
mkdir -p "$out/bin"
cc -static -O2 -o "$out/bin/hello" hello.c
