# The gcc-12 "sysroot": Debian's compiler, binutils and C library merged into
# one tree, because gcc finds cc1, collect2, crt*.o and its own headers
# relative to where its driver lives, and with `--sysroot` looks for the C
# library's headers and libraries under <sysroot>/usr/{include,lib}.
#
# The packages are merged as symbolic links (debian.mergePackages); then
#   * the drivers (gcc-12, cpp-12) are copied in as real files, so that the
#     path they resolve themselves to is inside this tree;
#   * `usr` points at `.`: the imported packages have their usr-merge
#     flattened ($out/include, $out/lib), gcc looks in <sysroot>/usr/...;
#   * the linker scripts of the C library (lib/x86_64-linux-gnu/libc.so, libm.so,
#     ...) name /lib/... and /usr/lib/... files: they are rewritten to the store
#     paths of those files;
#   * <sysroot>/nix/store points at the store: ld looks for the absolute
#     paths of a linker script that lies inside the sysroot under the sysroot,
#     so a store path means the same thing inside the sysroot as outside.
{ lib, debian }:
let
  inherit (debian) mergePackages;
  storeDir = builtins.storeDir;
  packages = with debian; [
    gcc-12 cpp-12 gcc-12-base libgcc-12-dev libgcc-s1
    binutils binutils-x86-64-linux-gnu binutils-common libbinutils libctf0 libctf-nobfd0
    libc6 libc6-dev libc-dev-bin linux-libc-dev libcrypt-dev libcrypt1
    libnsl-dev libtirpc-dev
  ];
in
mergePackages {
  name = "gcc-sysroot-${debian.gcc-12.version}";
  paths = packages;
  inherit storeDir;
  postBuild = ''
    PATH="$PATH:${debian.grep}/bin"
    # the drivers as real files (they locate the compiler relative to themselves)
    for prog in gcc-12 cpp-12 gcc-ar-12 gcc-nm-12 gcc-ranlib-12; do
      real="bin/x86_64-linux-gnu-$prog"
      [ -e "$real" ] || continue
      cp --remove-destination "$(readlink -f "$real")" "$real"
      chmod 555 "$real"
      ln -sfn "x86_64-linux-gnu-$prog" "bin/$prog"
    done
    ln -s . usr
    mkdir -p ".$(dirname "$storeDir")"
    ln -s "$storeDir" ".$storeDir"

    # linker scripts: every absolute path becomes the store path of that file
    for script in lib/x86_64-linux-gnu/*.so; do
      [ -f "$script" ] || continue
      IFS= read -r first < "$script" || true
      case "$first" in "/* GNU ld script"*) ;; *) continue ;; esac
      text="$(cat "$script")"
      for p in $(grep -o '/[A-Za-z0-9_][A-Za-z0-9_./+-]*' "$script" | sort -u); do
        rel="''${p#/usr}"
        target="$(readlink -f ".$rel" || true)"
        if [ ! -e "$target" ] || [ "''${target#"$storeDir"/}" = "$target" ]; then
          echo "linker script $script: no file in the store for $p" >&2
          exit 1
        fi
        text="''${text//"$p "/"$target "}"
        text="''${text//"$p)"/"$target)"}"
      done
      if printf '%s\n' "$text" | grep -q '[( ]/\(usr\|lib\)'; then
        echo "linker script $script: a path outside the store is left" >&2
        exit 1
      fi
      rm "$script"
      printf '%s\n' "$text" > "$script"
      echo "rewrote $script:"
      grep -v '^/\*\|^ \*\|^$\|^\*/' "$script" || true
    done
  '';
  passthru = { inherit packages; version = debian.gcc-12.version; };
  meta = {
    description = "GCC 12, binutils and the GNU C library from Debian, merged into one prefix";
    platforms = [ "x86_64-linux" ];
  };
}
