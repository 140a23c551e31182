# The generic builder of pynix's stdenv, sourced by every stdenv.mkDerivation
# build (and usable by dev shells: `source $stdenv/setup`).
#
# The stdenv derivation prepends `initialPath`, `defaultNativeBuildInputs` and
# `SHELL` to this file. A build then runs `genericBuild`: the phases
#
#   unpack patch configure build check install fixup installCheck dist
#
# each of which runs the hooks `preX` / `postX` (strings evaluated, or shell
# functions, plus the arrays `preXHooks` / `postXHooks`) and can be replaced
# by a `xPhase` string or skipped with `dontX` (check and installCheck run
# with `doCheck` / `doInstallCheck`; `doCheck` is on unless set to false).

set -o pipefail

: "${outputs:=out}"
# Reproducible tools: a fixed date for archives, compilers and docs.
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"
export ZERO_AR_DATE=1
if [ -z "${NIX_BUILD_CORES:-}" ] || [ "${NIX_BUILD_CORES}" -le 0 ] 2>/dev/null; then
    NIX_BUILD_CORES="$(nproc 2>/dev/null || echo 1)"
fi
export NIX_BUILD_CORES

# -- helpers -------------------------------------------------------------------

echoCmd() {
    printf '%s:' "$1"
    shift
    printf ' %q' "$@"
    echo
}

die() {
    echo "error: $*" >&2
    exit 1
}

# addToSearchPath VAR DIR: append DIR to the colon-separated VAR if it exists.
addToSearchPath() {
    local var="$1" dir="$2"
    if [ -d "$dir" ]; then
        export "$var"="${!var:+${!var}:}$dir"
    fi
}

# _eval CODE ARGS...: call a function, or evaluate a string with ARGS as $@.
_eval() {
    if declare -F "$1" >/dev/null 2>&1; then
        "$@"
    else
        eval "$1"
    fi
}

# runHook NAME ARGS...: the implicit hook (a function or a string variable
# called NAME), then every entry of the array NAMEs (e.g. preBuildHooks).
runHook() {
    local hookName="$1"
    shift
    local arr="${hookName%Hook}Hooks[@]"
    local hook
    if declare -F "$hookName" >/dev/null 2>&1; then
        "$hookName" "$@"
    elif [ -n "${!hookName:-}" ]; then
        eval "${!hookName}"
    fi
    for hook in ${!arr+"${!arr}"}; do
        _eval "$hook" "$@"
    done
    return 0
}

# runOneHook NAME ARGS...: the first hook of NAME that succeeds; fails if none.
runOneHook() {
    local hookName="$1"
    shift
    local arr="${hookName%Hook}Hooks[@]"
    local hook
    if declare -F "$hookName" >/dev/null 2>&1; then
        "$hookName" "$@" && return 0
    elif [ -n "${!hookName:-}" ]; then
        eval "${!hookName}" && return 0
    fi
    for hook in ${!arr+"${!arr}"}; do
        if _eval "$hook" "$@"; then
            return 0
        fi
    done
    return 1
}

addEnvHooks() {
    envHooks+=("$@")
}

isELF() {
    local fd magic
    [ -f "$1" ] || return 1
    exec {fd}<"$1" || return 1
    read -r -n 4 -u "$fd" magic || true
    exec {fd}<&-
    [ "$magic" = $'\177ELF' ]
}

isScript() {
    local fd magic
    [ -f "$1" ] || return 1
    exec {fd}<"$1" || return 1
    read -r -n 2 -u "$fd" magic || true
    exec {fd}<&-
    [ "$magic" = '#!' ]
}

# stripHash PATH: the base name without a store path's hash (prints it).
stripHash() {
    local base="${1##*/}"
    if [[ "$base" =~ ^[0-9a-z]{32}- ]]; then
        echo "${base:33}"
    else
        echo "$base"
    fi
}

# substitute IN OUT --replace-fail OLD NEW | --subst-var NAME | --subst-var-by NAME VAL
substitute() {
    local input="$1" output="$2"
    shift 2
    local content
    content="$(cat "$input"; printf x)"
    content="${content%x}"
    while [ $# -gt 0 ]; do
        case "$1" in
            --replace | --replace-fail | --replace-warn | --replace-quiet)
                if [ "$1" = --replace-fail ] && [[ "$content" != *"$2"* ]]; then
                    die "substitute: '$2' not found in $input"
                fi
                content="${content//"$2"/"$3"}"
                shift 3
                ;;
            --subst-var)
                content="${content//@$2@/${!2}}"
                shift 2
                ;;
            --subst-var-by)
                content="${content//@$2@/$3}"
                shift 3
                ;;
            *) die "substitute: unknown argument '$1'" ;;
        esac
    done
    printf '%s' "$content" >"$output.tmp"
    if [ -x "$input" ]; then chmod +x "$output.tmp"; fi
    mv "$output.tmp" "$output"
}

substituteInPlace() {
    local file="$1"
    shift
    substitute "$file" "$file" "$@"
}

# substituteAll IN OUT: replace @name@ by $name for every environment variable.
substituteAll() {
    local input="$1" output="$2" args=() name
    for name in $(compgen -e); do
        case "$name" in
            [a-z]*) args+=(--subst-var "$name") ;;
        esac
    done
    substitute "$input" "$output" "${args[@]}"
}

# -- inputs ----------------------------------------------------------------------

# findInputs PKG VAR: append PKG and what it propagates (transitively) to VAR.
findInputs() {
    local pkg="$1" var="$2" p
    case " ${!var} " in
        *" $pkg "*) return 0 ;;
    esac
    [ -e "$pkg" ] || die "build input $pkg does not exist"
    eval "$var+=\" \$pkg\""
    if [ -f "$pkg/nix-support/propagated-build-inputs" ]; then
        for p in $(<"$pkg/nix-support/propagated-build-inputs"); do
            findInputs "$p" "$var"
        done
    fi
    if [ -f "$pkg/nix-support/propagated-native-build-inputs" ]; then
        for p in $(<"$pkg/nix-support/propagated-native-build-inputs"); do
            findInputs "$p" nativePkgs
        done
    fi
}

# What every input contributes: bin/ to PATH, include/ and lib/ to the
# compiler's and linker's flags.
_addInputToEnv() {
    local pkg="$1"
    addToSearchPath _PATH "$pkg/bin"
    if [ -d "$pkg/include" ]; then
        export NIX_CFLAGS_COMPILE="${NIX_CFLAGS_COMPILE:+$NIX_CFLAGS_COMPILE }-isystem $pkg/include"
    fi
    if [ -d "$pkg/lib" ]; then
        export NIX_LDFLAGS="${NIX_LDFLAGS:+$NIX_LDFLAGS }-L$pkg/lib -rpath $pkg/lib"
    fi
    if [ -d "$pkg/lib/pkgconfig" ]; then
        addToSearchPath PKG_CONFIG_PATH "$pkg/lib/pkgconfig"
    fi
    if [ -d "$pkg/share/pkgconfig" ]; then
        addToSearchPath PKG_CONFIG_PATH "$pkg/share/pkgconfig"
    fi
}

_setupInputs() {
    local p hook
    nativePkgs=""
    pkgs=""
    for p in ${defaultNativeBuildInputs:-} ${nativeBuildInputs:-}; do
        findInputs "$p" nativePkgs
    done
    for p in ${buildInputs:-} ${propagatedBuildInputs:-}; do
        findInputs "$p" pkgs
    done
    for p in ${propagatedNativeBuildInputs:-}; do
        findInputs "$p" nativePkgs
    done
    # setup hooks first (they may add envHooks), then every input to the env
    for p in $nativePkgs $pkgs; do
        if [ -f "$p" ]; then
            source "$p"
        elif [ -f "$p/nix-support/setup-hook" ]; then
            source "$p/nix-support/setup-hook"
        fi
    done
    _PATH=""
    for p in $nativePkgs $pkgs; do
        [ -d "$p" ] || continue
        _addInputToEnv "$p"
        for hook in ${envHooks[@]+"${envHooks[@]}"}; do
            _eval "$hook" "$p"
        done
    done
    PATH="${_PATH:+$_PATH:}$PATH"
    export PATH
}

# -- unpack --------------------------------------------------------------------------

unpackFile() {
    curSrc="$1"
    echo "unpacking source archive $curSrc"
    if runOneHook unpackCmd "$curSrc"; then
        return 0
    fi
    if [ -d "$curSrc" ]; then
        local dest
        dest="$(stripHash "$curSrc")"
        cp -pr --no-preserve=timestamps -- "$curSrc" "$dest"
        chmod -R u+w -- "$dest"
        return 0
    fi
    case "$curSrc" in
        *.tar.xz | *.txz | *.tar.lzma)
            xz -d <"$curSrc" | tar -x --warning=no-timestamp ;;
        *.tar.gz | *.tgz | *.tar.Z)
            gzip -d <"$curSrc" | tar -x --warning=no-timestamp ;;
        *.tar.bz2 | *.tbz2 | *.tbz)
            bzip2 -d <"$curSrc" | tar -x --warning=no-timestamp ;;
        *.tar | *.tar.*)
            tar -xf "$curSrc" --warning=no-timestamp ;;
        *.zip | *.ZIP | *.jar | *.whl)
            command -v unzip >/dev/null || die "unzip is needed to unpack $curSrc"
            unzip -qo "$curSrc" ;;
        *) die "do not know how to unpack source archive $curSrc" ;;
    esac
}

unpackPhase() {
    runHook preUnpack
    if [ -z "${srcs:-}" ]; then
        if [ -z "${src:-}" ]; then
            die "variable \$src or \$srcs should point to the source"
        fi
        srcs="$src"
    fi
    local before=" " i
    for i in *; do
        if [ -d "$i" ]; then before+="$i "; fi
    done
    for i in $srcs; do
        unpackFile "$i"
    done
    : "${sourceRoot=}"
    if [ -n "${setSourceRoot:-}" ]; then
        runOneHook setSourceRoot
    elif [ -z "$sourceRoot" ]; then
        for i in *; do
            if [ -d "$i" ]; then
                case "$before" in
                    *" $i "*) ;;
                    *)
                        if [ -n "$sourceRoot" ]; then
                            die "unpacker produced multiple directories ($sourceRoot, $i); set sourceRoot"
                        fi
                        sourceRoot="$i"
                        ;;
                esac
            fi
        done
    fi
    if [ -z "$sourceRoot" ]; then
        die "unpacker appears to have produced no directories"
    fi
    echo "source root is $sourceRoot"
    if [ -z "${dontMakeSourcesWritable:-}" ]; then
        chmod -R u+w -- "$sourceRoot"
    fi
    runHook postUnpack
}

# -- patch ---------------------------------------------------------------------------

patchPhase() {
    runHook prePatch
    local p uncompress
    for p in ${patches:-}; do
        echo "applying patch $p"
        case "$p" in
            *.gz) uncompress="gzip -d" ;;
            *.bz2) uncompress="bzip2 -d" ;;
            *.xz) uncompress="xz -d" ;;
            *) uncompress="cat" ;;
        esac
        # shellcheck disable=SC2086
        $uncompress <"$p" | patch ${patchFlags:--p1}
    done
    runHook postPatch
}

# -- configure --------------------------------------------------------------------

configurePhase() {
    runHook preConfigure
    : "${configureScript=}"
    if [ -z "$configureScript" ] && [ -x ./configure ]; then
        configureScript=./configure
    fi
    if [ -n "$configureScript" ]; then
        local flags=()
        if [ -z "${dontAddPrefix:-}" ]; then
            flags+=("${prefixKey:---prefix=}$prefix")
        fi
        if [ -z "${dontDisableDependencyTracking:-}" ] && [ -f "$configureScript" ] \
            && grep -q dependency-tracking "$configureScript"; then
            flags+=(--disable-dependency-tracking)
        fi
        # shellcheck disable=SC2206
        flags+=(${configureFlags:-} ${configureFlagsArray[@]+"${configureFlagsArray[@]}"})
        echoCmd 'configure flags' "${flags[@]}"
        # shellcheck disable=SC2086
        $configureScript "${flags[@]}"
    else
        echo "no configure script, doing nothing"
    fi
    runHook postConfigure
}

# -- build, check, install --------------------------------------------------------

_haveMakefile() {
    [ -n "${makefile:-}" ] || [ -e Makefile ] || [ -e makefile ] || [ -e GNUmakefile ]
}

_parallelFlags() {
    if [ -n "${1:-}" ]; then
        echo "-j$NIX_BUILD_CORES"
    fi
}

buildPhase() {
    runHook preBuild
    if [ -z "${makeFlags:-}" ] && ! _haveMakefile; then
        echo "no Makefile or custom buildPhase, doing nothing"
    else
        # shellcheck disable=SC2206
        local flags=(
            ${makefile:+-f "$makefile"}
            $(_parallelFlags "${enableParallelBuilding:-}")
            SHELL="$SHELL"
            ${makeFlags:-} ${makeFlagsArray[@]+"${makeFlagsArray[@]}"}
            ${buildFlags:-} ${buildFlagsArray[@]+"${buildFlagsArray[@]}"}
        )
        echoCmd 'build flags' "${flags[@]}"
        make "${flags[@]}"
    fi
    runHook postBuild
}

checkPhase() {
    runHook preCheck
    if ! _haveMakefile; then
        echo "no Makefile or custom checkPhase, doing nothing"
        runHook postCheck
        return 0
    fi
    if [ -z "${checkTarget:-}" ]; then
        if make ${makefile:+-f "$makefile"} -n check >/dev/null 2>&1; then
            checkTarget=check
        elif make ${makefile:+-f "$makefile"} -n test >/dev/null 2>&1; then
            checkTarget=test
        fi
    fi
    if [ -z "${checkTarget:-}" ]; then
        echo "no check/test target in ${makefile:-Makefile}, doing nothing"
    else
        # shellcheck disable=SC2206
        local flags=(
            ${makefile:+-f "$makefile"}
            $(_parallelFlags "${enableParallelChecking-${enableParallelBuilding:-}}")
            SHELL="$SHELL"
            ${makeFlags:-} ${makeFlagsArray[@]+"${makeFlagsArray[@]}"}
            ${checkFlags:-} ${checkFlagsArray[@]+"${checkFlagsArray[@]}"}
            $checkTarget
        )
        echoCmd 'check flags' "${flags[@]}"
        make "${flags[@]}"
    fi
    runHook postCheck
}

installPhase() {
    runHook preInstall
    if [ -n "$prefix" ]; then
        mkdir -p "$prefix"
    fi
    if [ -z "${makeFlags:-}" ] && ! _haveMakefile; then
        echo "no Makefile or custom installPhase, doing nothing"
    else
        # shellcheck disable=SC2206
        local flags=(
            ${makefile:+-f "$makefile"}
            $(_parallelFlags "${enableParallelInstalling-${enableParallelBuilding:-}}")
            SHELL="$SHELL"
            ${makeFlags:-} ${makeFlagsArray[@]+"${makeFlagsArray[@]}"}
            ${installFlags:-} ${installFlagsArray[@]+"${installFlagsArray[@]}"}
            ${installTargets:-install}
        )
        echoCmd 'install flags' "${flags[@]}"
        make "${flags[@]}"
    fi
    runHook postInstall
}

installCheckPhase() {
    runHook preInstallCheck
    if ! _haveMakefile; then
        echo "no Makefile or custom installCheckPhase, doing nothing"
    else
        make ${makefile:+-f "$makefile"} SHELL="$SHELL" ${makeFlags:-} \
            ${installCheckFlags:-} "${installCheckTarget:-installcheck}"
    fi
    runHook postInstallCheck
}

distPhase() {
    runHook preDist
    make ${makefile:+-f "$makefile"} ${distFlags:-} "${distTarget:-dist}"
    if [ -z "${dontCopyDist:-}" ]; then
        mkdir -p "$out/tarballs"
        cp -pvd ${tarballs:-*.tar.gz} "$out/tarballs"
    fi
    runHook postDist
}

# -- fixup ----------------------------------------------------------------------------

# patchShebangs PATH...: rewrite the `#!` line of every executable script under
# PATH to the interpreter of that name found on PATH, if it is in the store
# (`#!/usr/bin/env prog args` becomes `#!/nix/store/...-x/bin/prog args`).
patchShebangs() {
    local f oldLine oldInterp args name newPath newLine tmp
    local store="${NIX_STORE:-/nix/store}"
    while IFS= read -r -d '' f; do
        isScript "$f" || continue
        IFS= read -r oldLine <"$f" || true
        oldLine="${oldLine#\#!}"
        read -r oldInterp args <<<"$oldLine" || true
        [ -n "$oldInterp" ] || continue
        if [ "${oldInterp:0:${#store}}" = "$store" ]; then
            continue
        fi
        if [ "${oldInterp##*/}" = env ]; then
            read -r name args <<<"$args" || true
            if [ "${name:0:1}" = - ]; then
                echo "patchShebangs: $f: unsupported interpreter options '$name'" >&2
                continue
            fi
        else
            name="${oldInterp##*/}"
        fi
        newPath="$(command -v "$name" 2>/dev/null || true)"
        if [ -z "$newPath" ] || [ "${newPath:0:${#store}}" != "$store" ]; then
            echo "patchShebangs: $f: no interpreter '$name' in the store on PATH, left as is" >&2
            continue
        fi
        newLine="#!$newPath${args:+ $args}"
        echo "$f: interpreter directive changed from \"#!$oldLine\" to \"$newLine\""
        tmp="$f.patchShebangs.tmp"
        { printf '%s\n' "$newLine"; tail -n +2 "$f"; } >"$tmp"
        chmod --reference="$f" "$tmp" 2>/dev/null || chmod +x "$tmp"
        touch -r "$f" "$tmp" 2>/dev/null || true
        mv -f "$tmp" "$f"
    done < <(find "$@" -type f -perm -0100 -print0)
}

_patchShebangsOutput() {
    if [ -z "${dontPatchShebangs:-}" ] && [ -e "$prefix" ]; then
        patchShebangs "$prefix"
    fi
}

_stripOutput() {
    [ -z "${dontStrip:-}" ] || return 0
    local strip="${STRIP:-strip}"
    command -v "$strip" >/dev/null 2>&1 || return 0
    local d f
    for d in ${stripDebugList:-lib lib32 lib64 libexec bin sbin}; do
        [ -e "$prefix/$d" ] || continue
        while IFS= read -r -d '' f; do
            if isELF "$f"; then
                "$strip" ${stripDebugFlags:--S} "$f" 2>/dev/null || true
            fi
        done < <(find "$prefix/$d" -type f -print0)
    done
    for d in ${stripAllList:-}; do
        [ -e "$prefix/$d" ] || continue
        while IFS= read -r -d '' f; do
            if isELF "$f"; then
                "$strip" ${stripAllFlags:--s} "$f" 2>/dev/null || true
            fi
        done < <(find "$prefix/$d" -type f -print0)
    done
}

# Drop RPATH entries that provide none of an ELF file's needed libraries
# (only when patchelf is available).
_shrinkRpathOutput() {
    [ -z "${dontPatchELF:-}" ] || return 0
    command -v patchelf >/dev/null 2>&1 || return 0
    local f
    while IFS= read -r -d '' f; do
        if isELF "$f"; then
            patchelf --shrink-rpath "$f" 2>/dev/null || true
        fi
    done < <(find "$prefix" -type f -print0)
}

fixupOutputHooks+=(_stripOutput _shrinkRpathOutput _patchShebangsOutput)

fixupPhase() {
    local output
    for output in $outputs; do
        if [ -e "${!output}" ]; then
            chmod -R u+w -- "${!output}"
        else
            mkdir -p "${!output}"
        fi
    done
    runHook preFixup
    for output in $outputs; do
        prefix="${!output}" runHook fixupOutput
    done
    local support="${!outputDev}/nix-support"
    if [ -n "${propagatedBuildInputs:-}" ]; then
        mkdir -p "$support"
        echo $propagatedBuildInputs >"$support/propagated-build-inputs"
    fi
    if [ -n "${propagatedNativeBuildInputs:-}" ]; then
        mkdir -p "$support"
        echo $propagatedNativeBuildInputs >"$support/propagated-native-build-inputs"
    fi
    if [ -n "${setupHook:-}" ]; then
        mkdir -p "$support"
        substituteAll "$setupHook" "$support/setup-hook"
    fi
    runHook postFixup
}

# -- the phases ------------------------------------------------------------------------

showPhaseHeader() {
    echo "Running phase: $1"
}

genericBuild() {
    if [ -f "${buildCommandPath:-}" ]; then
        buildCommand="$(<"$buildCommandPath")"
    fi
    if [ -n "${buildCommand:-}" ]; then
        eval "$buildCommand"
        return
    fi
    if [ -z "${phases:-}" ]; then
        phases="${prePhases:-} unpackPhase patchPhase ${preConfigurePhases:-} configurePhase \
            ${preBuildPhases:-} buildPhase checkPhase ${preInstallPhases:-} installPhase \
            ${preFixupPhases:-} fixupPhase installCheckPhase ${preDistPhases:-} distPhase \
            ${postPhases:-}"
    fi
    local curPhase
    for curPhase in $phases; do
        case "$curPhase" in
            unpackPhase) [ -z "${dontUnpack:-}" ] || continue ;;
            patchPhase) [ -z "${dontPatch:-}" ] || continue ;;
            configurePhase) [ -z "${dontConfigure:-}" ] || continue ;;
            buildPhase) [ -z "${dontBuild:-}" ] || continue ;;
            checkPhase) [ -n "${doCheck:-}" ] || continue ;;
            installPhase) [ -z "${dontInstall:-}" ] || continue ;;
            fixupPhase) [ -z "${dontFixup:-}" ] || continue ;;
            installCheckPhase) [ -n "${doInstallCheck:-}" ] || continue ;;
            distPhase) [ -n "${doDist:-}" ] || continue ;;
        esac
        showPhaseHeader "$curPhase"
        if [ -n "${!curPhase:-}" ]; then
            eval "${!curPhase}"
        else
            "$curPhase"
        fi
        if [ "$curPhase" = unpackPhase ]; then
            cd -- "${sourceRoot:-.}"
        fi
    done
}

# -- initialisation ----------------------------------------------------------------------

PATH=""
for _p in ${initialPath:-}; do
    addToSearchPath PATH "$_p/bin"
done
unset _p
export PATH
export SHELL="${SHELL:-$BASH}"
: "${prefix:=${out:-}}"
: "${outputDev:=out}"
if [ -z "${!outputDev:-}" ]; then outputDev=out; fi
_setupInputs
runHook postHook
