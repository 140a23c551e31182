# Redis from Debian: redis-server and the tools (redis-cli, ...) in one prefix.
# Debian's redis-server is a link to redis-tools' redis-check-rdb, which acts
# by the name it is called with.  Run it with its settings on the command
# line, e.g. `redis-server --port 6379 --bind 127.0.0.1 --dir /tmp --save ''`
# (Debian's /etc/redis/redis.conf is not in the store).
{ debian }:
let
  version = debian.upstreamVersion debian.redis-server.version;
in
debian.mergePackages {
  name = "redis-${version}";
  paths = [ debian.redis-server debian.redis-tools ];
  passthru = {
    pname = "redis";
    inherit version;
  };
  meta = {
    description = "Persistent key-value database with network interface, from Debian";
    mainProgram = "redis-server";
    platforms = [ "x86_64-linux" ];
  };
}
