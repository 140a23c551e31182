# coreutils from Debian, imported as is (see ../debian).
{ debian }:
let deb = debian.coreutils; in
deb // {
  pname = "coreutils";
  version = debian.upstreamVersion deb.version;
  debianVersion = deb.version;
  meta = deb.meta // {
    description = "GNU core utilities (ls, cp, mv, ...), from Debian";
    mainProgram = "ls";
  };
}
