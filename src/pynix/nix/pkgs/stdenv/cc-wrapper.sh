#!@shell@
# pynix cc-wrapper around @real@: adds the C library (@libc@), the sysroot,
# the dynamic linker, the flags of the build inputs (NIX_CFLAGS_COMPILE,
# NIX_LDFLAGS) and an RPATH entry for every store directory that provides a
# shared library being linked.
store="${NIX_STORE:-/nix/store}"
linking=1
inputs=0
for arg in "$@"; do
    case "$arg" in
        -c | -S | -E | -M | -MM | -fsyntax-only | -print-* | -dump* | --version | --help) linking=0 ;;
        -*) ;;
        *) inputs=1 ;;
    esac
done
[ "$inputs" = 1 ] || linking=0

before=()
after=()
if [ -n "@sysroot@" ]; then
    before+=("--sysroot=@sysroot@")
fi
if [ -n "@libc@" ]; then
    before+=("-B@libc@/lib" "-idirafter" "@libc@/include")
fi
before+=(@extraCFlags@)
if [ -n "${out:-}" ] && [ "${out:0:${#store}}" = "$store" ]; then
    seed="${out##*/}"
    before+=("-frandom-seed=${seed:0:10}")
fi
# shellcheck disable=SC2206
after+=(${NIX_CFLAGS_COMPILE:-})

if [ "$linking" = 1 ]; then
    after+=("-Wl,-dynamic-linker,@dynamicLinker@" @extraLDFlags@)
    # shellcheck disable=SC2206
    ldflags=(${NIX_LDFLAGS:-})
    # the libraries linked (-lNAME, or a store .so named directly)
    libs=()
    usedDirs=" "
    for arg in "$@" "${ldflags[@]}"; do
        case "$arg" in
            -l?*) libs+=("${arg#-l}") ;;
            "$store"/*.so | "$store"/*.so.*) usedDirs+="${arg%/*} " ;;
        esac
    done
    # An RPATH entry for a store -L directory that provides one of them
    # (fixup shrinks RPATHs further when patchelf is there).
    rpaths=" "
    addRpath() {
        case "$rpaths" in *" $1 "*) return ;; esac
        local lib
        case "$usedDirs" in
            *" $1 "*) ;;
            *)
                for lib in ${libs[@]+"${libs[@]}"}; do
                    if [ -e "$1/lib$lib.so" ] || compgen -G "$1/lib$lib.so.*" >/dev/null; then
                        lib=found
                        break
                    fi
                done
                [ "$lib" = found ] || return 0
                ;;
        esac
        rpaths+="$1 "
        after+=("-Wl,-rpath,$1")
    }
    for arg in "$@"; do
        case "$arg" in
            -L"$store"/*) addRpath "${arg#-L}" ;;
        esac
    done
    i=0
    while [ "$i" -lt "${#ldflags[@]}" ]; do
        flag="${ldflags[$i]}"
        case "$flag" in
            -rpath)
                i=$((i + 1))
                addRpath "${ldflags[$i]}"
                ;;
            -L*)
                after+=("$flag")
                case "$flag" in -L"$store"/*) addRpath "${flag#-L}" ;; esac
                ;;
            -l*) after+=("$flag") ;;
            *) after+=("-Wl,$flag") ;;
        esac
        i=$((i + 1))
    done
    for dir in $usedDirs; do
        addRpath "$dir"
    done
fi

if [ -n "${NIX_DEBUG:-}" ]; then
    echo "cc-wrapper: @real@ ${before[*]} $* ${after[*]}" >&2
fi
exec "@real@" "${before[@]}" "$@" "${after[@]}"
