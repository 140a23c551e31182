# bash from Debian, imported as is (see ../debian).
{ debian }:
let deb = debian.bash; in
deb // {
  pname = "bash";
  version = debian.upstreamVersion deb.version;
  debianVersion = deb.version;
  meta = deb.meta // {
    description = "GNU Bourne Again SHell, from Debian";
    mainProgram = "bash";
  };
}
