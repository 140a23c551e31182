# builder of mergePackages (./merge.nix): bash with coreutils on PATH
set -euo pipefail
shopt -s nullglob dotglob
mkdir -p "$out"
for pkg in $paths; do
    for entry in "$pkg"/*; do
        base="${entry##*/}"
        # cp -rs: directories are made (or merged into), files become
        # absolute symbolic links to the package's files
        if ! err="$(cp -rs "$entry" "$out/" 2>&1)"; then
            echo "mergePackages: cannot add '$entry' to '$name': $err" >&2
            echo "(two packages provide the same file)" >&2
            exit 1
        fi
        if [ -d "$out/$base" ] && [ ! -L "$out/$base" ]; then
            chmod -R u+w "$out/$base"
        fi
    done
done
cd "$out"
eval "$postBuild"
