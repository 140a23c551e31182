# Builds the stdenv itself: $out/setup is setup.sh preceded by what this
# stdenv provides (the initial PATH, the compiler, the shell).
PATH=""
for p in $initialPath; do
    PATH="${PATH:+$PATH:}$p/bin"
done
export PATH
mkdir -p "$out"
{
    echo "# pynix stdenv: $name"
    printf 'initialPath=%q\n' "$initialPath"
    printf 'defaultNativeBuildInputs=%q\n' "$defaultNativeBuildInputs"
    printf 'SHELL=%q\n' "$shell"
    echo
    cat "$setup"
} >"$out/setup"
