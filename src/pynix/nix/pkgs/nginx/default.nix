# nginx from Debian (the `nginx` package: Debian's nginx-light/-core binary)
# with nginx-common's configuration snippets (etc/nginx/mime.types, ...).
# Its compiled-in paths point into /etc, /var and /run, so run it with
# `nginx -p PREFIX -c CONF -e stderr` and a configuration that sets `pid`,
# `error_log` and the `*_temp_path`s (see tests/pkgs/test_services_sandbox.py).
{ debian }:
let
  version = debian.upstreamVersion debian.nginx.version;
in
debian.mergePackages {
  name = "nginx-${version}";
  paths = [ debian.nginx debian.nginx-common ];
  postBuild = ''
    mkdir -p bin
    ln -s ../sbin/nginx bin/nginx
  '';
  passthru = {
    pname = "nginx";
    inherit version;
    mimeTypes = "${debian.nginx-common}/etc/nginx/mime.types";
  };
  meta = {
    description = "Small, powerful, scalable web/proxy server, from Debian";
    mainProgram = "nginx";
    platforms = [ "x86_64-linux" ];
  };
}
