# Git from Debian.  Debian's git looks for its helper programs in
# /usr/lib/git-core and its templates in /usr/share/git-core/templates, so
# bin/git is a small wrapper that points it at the store instead
# (GIT_EXEC_PATH, GIT_TEMPLATE_DIR unless set) and runs the real program.
{ debian }:
let
  git = debian.git;
  version = debian.upstreamVersion git.version;
  bash = debian.bash;
in
debian.mergePackages {
  name = "git-${version}";
  paths = [ git ];
  postBuild = ''
    rm bin/git
    {
      echo '#!${bash}/bin/bash'
      echo 'export GIT_EXEC_PATH="''${GIT_EXEC_PATH:-${git}/lib/git-core}"'
      echo 'export GIT_TEMPLATE_DIR="''${GIT_TEMPLATE_DIR:-${git}/share/git-core/templates}"'
      echo 'exec -a "$0" ${git}/bin/git "$@"'
    } > bin/git
    chmod 0555 bin/git
  '';
  passthru = {
    pname = "git";
    inherit version;
    unwrapped = git;
  };
  meta = {
    description = "Fast, scalable, distributed revision control system, from Debian";
    mainProgram = "git";
    platforms = [ "x86_64-linux" ];
  };
}
