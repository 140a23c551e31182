# curl from Debian, imported as is (see ../debian).
{ debian }:
let deb = debian.curl; in
deb // {
  pname = "curl";
  version = debian.upstreamVersion deb.version;
  debianVersion = deb.version;
  meta = deb.meta // {
    description = "Command line tool for transferring data with URLs, from Debian";
    mainProgram = "curl";
  };
}
