# services.nginx: the nginx web server with virtual hosts, run in the
# foreground (`daemon off;`) by its service manager, with its pid under
# /run/nginx, temporary files under /var/cache/nginx and logs to stderr
# (error_log) and /var/log/nginx (access log).  The generated nginx.conf is
# checked with `nginx -t` when it is built.
{ config, lib, pkgs, ... }:
let
  inherit (lib) mkOption mkEnableOption mkIf mkDefault types
    optionalString concatStringsSep concatMapStrings concatMapStringsSep mapAttrsToList;

  cfg = config.services.nginx;

  # HTTP basic authentication, for a whole virtual host or one location
  authOptions = {
    basicAuth = mkOption {
      type = types.attrsOf types.str;
      default = { };
      description = "User names and passwords of HTTP basic authentication (stored in the store!).";
    };
    basicAuthFile = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "An htpasswd file for HTTP basic authentication.";
    };
  };

  listenOpts = {
    options = {
      addr = mkOption {
        type = types.str;
        description = "The address to listen on (IPv6 in brackets: \"[::]\").";
      };
      port = mkOption {
        type = types.nullOr types.port;
        default = null;
        description = "The port; null: defaultHTTPListenPort (or defaultSSLListenPort with ssl).";
      };
      ssl = mkOption {
        type = types.bool;
        default = false;
        description = "Whether this is an SSL listener.";
      };
      proxyProtocol = mkOption {
        type = types.bool;
        default = false;
        description = "Whether the PROXY protocol is expected.";
      };
      extraParameters = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "backlog=1024" ];
        description = "More parameters of the listen directive.";
      };
    };
  };

  locationOpts = { ... }: {
    options = {
      proxyPass = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "http://127.0.0.1:3000";
        description = "Where requests are passed (proxy_pass).";
      };
      proxyWebsockets = mkOption {
        type = types.bool;
        default = false;
        description = "Whether websocket connections are passed through.";
      };
      recommendedProxySettings = mkOption {
        type = types.bool;
        default = cfg.recommendedProxySettings;
        defaultText = "config.services.nginx.recommendedProxySettings";
        description = "Whether the recommended proxy headers and timeouts are used.";
      };
      index = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "index.php index.html";
        description = "The index directive.";
      };
      tryFiles = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "$uri =404";
        description = "The try_files directive.";
      };
      root = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "The root directory of this location.";
      };
      alias = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "The alias directory of this location.";
      };
      return = mkOption {
        type = types.nullOr (types.oneOf [ types.str types.int ]);
        default = null;
        example = "301 http://example.com$request_uri";
        description = "The return directive.";
      };
      fastcgiParams = mkOption {
        type = types.attrsOf (types.either types.str types.path);
        default = { };
        description = "fastcgi_param directives.";
      };
      extraConfig = mkOption {
        type = types.lines;
        default = "";
        description = "Lines added to the location block.";
      };
      priority = mkOption {
        type = types.int;
        default = 1000;
        description = "The order of the location blocks (lower first, then by path).";
      };
    } // authOptions;
  };

  vhostOpts = { name, ... }: {
    options = {
      serverName = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "The server name (null: the attribute name).";
      };
      serverAliases = mkOption {
        type = types.listOf types.str;
        default = [ ];
        example = [ "www.example.org" ];
        description = "More names of this virtual host.";
      };
      listen = mkOption {
        type = types.listOf (types.submodule listenOpts);
        default = [ ];
        example = [ { addr = "127.0.0.1"; port = 8080; } ];
        description = "Where this host listens; empty: the listen addresses and the default ports.";
      };
      listenAddresses = mkOption {
        type = types.listOf types.str;
        default = [ ];
        description = "Addresses listened on (with the default ports) when `listen` is empty.";
      };
      default = mkOption {
        type = types.bool;
        default = false;
        description = "Whether this is the default server of its listen addresses.";
      };
      root = mkOption {
        type = types.nullOr types.path;
        default = null;
        example = "/var/www/example";
        description = "The root directory of the host.";
      };
      locations = mkOption {
        type = types.attrsOf (types.submodule locationOpts);
        default = { };
        example = { "/".proxyPass = "http://127.0.0.1:3000"; };
        description = "Location blocks by path.";
      };
      extraConfig = mkOption {
        type = types.lines;
        default = "";
        description = "Lines added at the end of the server block.";
      };
      forceSSL = mkOption { type = types.bool; default = false; description = "Whether plain HTTP is redirected to HTTPS."; };
      addSSL = mkOption { type = types.bool; default = false; description = "Whether HTTPS is served besides HTTP."; };
      onlySSL = mkOption { type = types.bool; default = false; description = "Whether only HTTPS is served."; };
      rejectSSL = mkOption { type = types.bool; default = false; description = "Whether HTTPS connections are rejected."; };
      enableACME = mkOption { type = types.bool; default = false; description = "Whether certificates come from ACME (not supported by pynix)."; };
      useACMEHost = mkOption { type = types.nullOr types.str; default = null; description = "The ACME host whose certificate is used (not supported by pynix)."; };
      sslCertificate = mkOption { type = types.nullOr types.path; default = null; description = "The certificate of an SSL host (required with addSSL, onlySSL, forceSSL)."; };
      sslCertificateKey = mkOption { type = types.nullOr types.path; default = null; description = "The key of the certificate (required with sslCertificate)."; };
      sslTrustedCertificate = mkOption { type = types.nullOr types.path; default = null; description = "The trusted CA certificates (OCSP stapling)."; };
      http2 = mkOption { type = types.bool; default = true; description = "Whether HTTP/2 is enabled on SSL listeners."; };
      reuseport = mkOption { type = types.bool; default = false; description = "Whether listen lines get reuseport."; };
      globalRedirect = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "newserver.example.org";
        description = "A host every request is redirected to.";
      };
      redirectCode = mkOption {
        type = types.ints.between 300 399;
        default = 301;
        description = "The HTTP status of globalRedirect and forceSSL redirects.";
      };
    } // authOptions;
  };

  upstreamOpts = {
    options = {
      servers = mkOption {
        type = types.attrsOf (types.submodule {
          freeformType = types.attrsOf (types.oneOf [ types.bool types.int types.str ]);
          options.backup = mkOption {
            type = types.bool;
            default = false;
            description = "Whether this server is a backup.";
          };
        });
        default = { };
        example = { "127.0.0.1:8000" = { }; "127.0.0.1:8001".backup = true; };
        description = "The servers of the upstream, with their parameters.";
      };
      extraConfig = mkOption {
        type = types.lines;
        default = "";
        description = "Lines added to the upstream block.";
      };
    };
  };

  pkg = cfg.package;
  confDir = "${pkg}/etc/nginx";

  hasSSL = v: v.onlySSL || v.addSSL || v.forceSSL;

  htpasswd = name: users: pkgs.writeText "${name}.htpasswd"
    (concatStringsSep "\n" (mapAttrsToList (u: p: "${u}:{PLAIN}${p}") users) + "\n");

  authConfig = name: what:
    if what.basicAuthFile != null || what.basicAuth != { } then ''
      auth_basic secured;
      auth_basic_user_file ${if what.basicAuthFile != null then toString what.basicAuthFile else htpasswd name what.basicAuth};
    '' else "";

  listenLines = v: listens:
    concatMapStrings (l:
      let
        port = if l.port != null then l.port
          else if l.ssl then cfg.defaultSSLListenPort else cfg.defaultHTTPListenPort;
      in
      "listen ${l.addr}:${toString port}"
      + optionalString (l.ssl && v.http2) " http2"
      + optionalString l.ssl " ssl"
      + optionalString v.default " default_server"
      + optionalString v.reuseport " reuseport"
      + optionalString l.proxyProtocol " proxy_protocol"
      + concatMapStrings (p: " ${p}") l.extraParameters
      + ";\n") listens;

  defaultListens = v:
    let
      addrs = if v.listenAddresses != [ ] then v.listenAddresses else cfg.defaultListenAddresses;
      fromDefault = if cfg.defaultListen != [ ] then cfg.defaultListen
        else lib.concatMap (addr:
          lib.optional (!v.onlySSL) { inherit addr; port = null; ssl = false; proxyProtocol = false; extraParameters = [ ]; }
          ++ lib.optional (hasSSL v || v.rejectSSL) { inherit addr; port = null; ssl = true; proxyProtocol = false; extraParameters = [ ]; })
          addrs;
    in
    if v.listen != [ ] then v.listen else fromDefault;

  locationBlock = vname: path: l: ''
    location ${path} {
    ${optionalString (l.proxyPass != null) "  proxy_pass ${l.proxyPass};\n"}${optionalString l.proxyWebsockets ''
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
    ''}${lib.concatStrings (mapAttrsToList (n: v: "  fastcgi_param ${n} \"${toString v}\";\n") l.fastcgiParams)}${
      optionalString (l.index != null) "  index ${l.index};\n"}${
      optionalString (l.tryFiles != null) "  try_files ${l.tryFiles};\n"}${
      optionalString (l.root != null) "  root ${toString l.root};\n"}${
      optionalString (l.alias != null) "  alias ${toString l.alias};\n"}${
      optionalString (l.return != null) "  return ${toString l.return};\n"}${
      authConfig "${vname}-${path}" l}${l.extraConfig}
    ${optionalString (l.proxyPass != null && l.recommendedProxySettings) "  include ${recommendedProxyConfig};\n"}}
  '';

  sortedLocations = locations:
    lib.sort (a: b: if a.value.priority != b.value.priority then a.value.priority < b.value.priority
                    else a.name < b.name)
      (mapAttrsToList lib.nameValuePair locations);

  vhostBlock = vname: v:
    let
      serverName = if v.serverName != null then v.serverName else vname;
      listens = defaultListens v;
      plainListens = builtins.filter (l: !l.ssl) listens;
      sslListens = builtins.filter (l: l.ssl) listens;
      redirectScheme = if hasSSL v then "https" else "http";
    in
    optionalString v.forceSSL ''
      server {
      ${listenLines v plainListens}  server_name ${serverName} ${toString v.serverAliases};
        location / {
          return ${toString v.redirectCode} https://$host$request_uri;
        }
      }
    '' + ''
      server {
      ${listenLines v (if v.forceSSL then sslListens else listens)}  server_name ${serverName} ${toString v.serverAliases};
      ${cfg.commonServerConfig}
      ${optionalString (v.root != null) "  root ${toString v.root};\n"}${
        optionalString (v.globalRedirect != null) "  location / {\n    return ${toString v.redirectCode} ${redirectScheme}://${v.globalRedirect}$request_uri;\n  }\n"}${
        optionalString (hasSSL v) ''
          ssl_certificate ${toString v.sslCertificate};
          ssl_certificate_key ${toString v.sslCertificateKey};
        ''}${optionalString (hasSSL v && v.sslTrustedCertificate != null) "  ssl_trusted_certificate ${toString v.sslTrustedCertificate};\n"}${
        optionalString v.rejectSSL "  ssl_reject_handshake on;\n"}${
        authConfig vname v}${
        concatMapStrings (e: locationBlock vname e.name e.value) (sortedLocations v.locations)}${v.extraConfig}
      }
    '';

  upstreamBlock = name: u: ''
    upstream ${name} {
    ${lib.concatStrings (mapAttrsToList (addr: s:
      "  server ${addr}"
      + concatMapStrings (k:
          let val = s.${k}; in
          if k == "backup" then optionalString val " backup"
          else if builtins.isBool val then optionalString val " ${k}"
          else " ${k}=${toString val}")
        (builtins.attrNames s)
      + ";\n") u.servers)}${u.extraConfig}
    }
  '';

  proxyHeaders = ''
    proxy_set_header        Host $host;
    proxy_set_header        X-Real-IP $remote_addr;
    proxy_set_header        X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header        X-Forwarded-Proto $scheme;
    proxy_set_header        X-Forwarded-Host $host;
    proxy_set_header        X-Forwarded-Server $host;
  '';

  recommendedProxyConfig = pkgs.writeText "nginx-recommended-proxy-headers.conf" ''
    proxy_redirect          off;
    proxy_connect_timeout   ${cfg.proxyTimeout};
    proxy_send_timeout      ${cfg.proxyTimeout};
    proxy_read_timeout      ${cfg.proxyTimeout};
    proxy_http_version      1.1;
    # don't let clients close the keep-alive connection to upstream
    proxy_set_header        "Connection" "";
    ${proxyHeaders}
  '';

  configText = if cfg.config != "" then cfg.config + "\n" + appendedTop else ''
    # Generated by pynix (services.nginx)
    pid /run/nginx/nginx.pid;
    error_log ${cfg.logError};
    daemon off;

    events {
    ${cfg.eventsConfig}
    }

    http {
      include ${pkg.mimeTypes or "${confDir}/mime.types"};
      types_hash_max_size 4096;
      include ${confDir}/fastcgi.conf;
      include ${confDir}/uwsgi_params;
      default_type application/octet-stream;

      # temporary files where the service may write
      client_body_temp_path /var/cache/nginx/client_body;
      proxy_temp_path /var/cache/nginx/proxy;
      fastcgi_temp_path /var/cache/nginx/fastcgi;
      uwsgi_temp_path /var/cache/nginx/uwsgi;
      scgi_temp_path /var/cache/nginx/scgi;
      access_log /var/log/nginx/access.log;

    ${optionalString (cfg.resolver.addresses != [ ]) ''
      resolver ${toString cfg.resolver.addresses}${optionalString (cfg.resolver.valid != "") " valid=${cfg.resolver.valid}"}${optionalString (!cfg.resolver.ipv6) " ipv6=off"};
    ''}${lib.concatStrings (mapAttrsToList upstreamBlock cfg.upstreams)}${optionalString cfg.recommendedOptimisation ''
      sendfile on;
      tcp_nopush on;
      tcp_nodelay on;
      keepalive_timeout 65;
    ''}${optionalString cfg.recommendedGzipSettings ''
      gzip on;
      gzip_static on;
      gzip_vary on;
      gzip_comp_level 5;
      gzip_min_length 256;
      gzip_proxied expired no-cache no-store private auth;
      gzip_types application/atom+xml application/javascript application/json application/xml application/xml+rss image/svg+xml text/css text/javascript text/plain text/xml;
    ''}${optionalString cfg.recommendedTlsSettings ''
      ssl_session_timeout 1d;
      ssl_session_cache shared:SSL:10m;
      ssl_session_tickets off;
      ssl_prefer_server_ciphers off;
    ''}${optionalString cfg.recommendedProxySettings ''
      proxy_redirect          off;
      proxy_connect_timeout   ${cfg.proxyTimeout};
      proxy_send_timeout      ${cfg.proxyTimeout};
      proxy_read_timeout      ${cfg.proxyTimeout};
      proxy_http_version      1.1;
      proxy_set_header        "Connection" "";
      ${proxyHeaders}
    ''}
      ssl_protocols ${cfg.sslProtocols};
    ${optionalString (cfg.sslCiphers != null) "  ssl_ciphers ${cfg.sslCiphers};\n"}${
      optionalString (cfg.sslDhparam != null) "  ssl_dhparam ${toString cfg.sslDhparam};\n"}
      map $http_upgrade $connection_upgrade {
        default upgrade;
        ''' close;
      }

      client_max_body_size ${cfg.clientMaxBodySize};
      server_tokens ${if cfg.serverTokens then "on" else "off"};

    ${cfg.commonHttpConfig}
    ${optionalString cfg.statusPage ''
      server {
        listen 127.0.0.1:${toString cfg.defaultHTTPListenPort};
        server_name localhost;
        location /nginx_status {
          stub_status on;
          access_log off;
          allow 127.0.0.1;
          deny all;
        }
      }
    ''}${lib.concatStrings (mapAttrsToList vhostBlock cfg.virtualHosts)}${cfg.httpConfig}
    ${cfg.appendHttpConfig}
    }
    ${optionalString (cfg.streamConfig != "") ''
      stream {
      ${cfg.streamConfig}
      }
    ''}${appendedTop}'';

  appendedTop = cfg.appendConfig + "\n";

  # the configuration, checked with `nginx -t` at build time: its runtime
  # directories are redirected to the build's temporary directory
  configFile = pkgs.runCommand "nginx.conf" {
    preferLocalBuild = true;
    allowSubstitutes = false;
    text = configText;
    passAsFile = [ "text" ];
    nginx = pkg;
    check = cfg.checkConfig;
  } ''
    cp "$textPath" "$out"
    if [ -n "$check" ]; then
      mkdir -p "$TMPDIR/nginx-check"/{run,cache,log}
      t="$TMPDIR/nginx-check"
      # `nginx -t` binds the listen addresses: unix sockets stand in for them
      # (one per address, so duplicate default servers are still caught)
      sed -e "s|/run/nginx/|$t/run/|g" -e "s|/var/cache/nginx/|$t/cache/|g" \
          -e "s|/var/log/nginx/|$t/log/|g" \
          -e "s|^\( *\)listen \([^ ;]*\)|\1listen unix:$t/run/l-\2.sock|" "$out" > "$t/nginx.conf"
      if ! "$nginx/bin/nginx" -t -q -p "$t" -e stderr -c "$t/nginx.conf" 2> "$t/check.log"; then
        cat "$t/check.log" >&2
        if grep -q -e "host not found in upstream" -e "cannot load certificate" "$t/check.log"; then
          # the build has no network and sees only the store: host names and
          # certificates outside it are checked when nginx starts
          echo "warning: services.nginx: 'nginx -t' could not resolve a host name or load a certificate here; not checked further" >&2
        else
          echo "error: services.nginx: the generated nginx.conf ($out) does not pass 'nginx -t' (see above)" >&2
          exit 1
        fi
      fi
    fi
  '';

  configPath = if cfg.enableReload then "/etc/nginx/nginx.conf" else configFile;

  execCommand = "${pkg}/bin/nginx -e stderr -c '${configPath}'";
in
{
  options.services.nginx = {
    enable = mkEnableOption "Nginx Web Server";
    package = mkOption {
      type = types.package;
      default = pkgs.nginx;
      defaultText = "pkgs.nginx";
      description = "The nginx package.";
    };
    user = mkOption {
      type = types.str;
      default = "nginx";
      description = "The user nginx runs as (created when left at \"nginx\").";
    };
    group = mkOption {
      type = types.str;
      default = "nginx";
      description = "The group nginx runs as (created when left at \"nginx\").";
    };
    virtualHosts = mkOption {
      type = types.attrsOf (types.submodule vhostOpts);
      default = { localhost = { }; };
      example = { "example.com" = { root = "/var/www/example"; locations."/".proxyPass = "http://127.0.0.1:3000"; }; };
      description = "Virtual hosts by name; any definition replaces the default `localhost`.";
    };
    upstreams = mkOption {
      type = types.attrsOf (types.submodule upstreamOpts);
      default = { };
      description = "Upstream server groups.";
    };
    recommendedProxySettings = mkOption { type = types.bool; default = false; description = "Whether proxies get the recommended headers and timeouts."; };
    recommendedTlsSettings = mkOption { type = types.bool; default = false; description = "Whether the recommended TLS settings are used."; };
    recommendedOptimisation = mkOption { type = types.bool; default = false; description = "Whether the recommended optimisations (sendfile, ...) are used."; };
    recommendedGzipSettings = mkOption { type = types.bool; default = false; description = "Whether responses are gzip-compressed."; };
    recommendedBrotliSettings = mkOption { type = types.bool; default = false; description = "Brotli compression (not available in pynix's nginx)."; };
    recommendedZstdSettings = mkOption { type = types.bool; default = false; description = "Zstd compression (not available in pynix's nginx)."; };
    proxyTimeout = mkOption { type = types.str; default = "60s"; description = "The timeouts of the recommended proxy settings."; };
    defaultListen = mkOption {
      type = types.listOf (types.submodule listenOpts);
      default = [ ];
      description = "Listen entries of hosts that have no `listen` of their own.";
    };
    defaultListenAddresses = mkOption {
      type = types.listOf types.str;
      default = [ "0.0.0.0" ] ++ lib.optional config.networking.enableIPv6 "[::0]";
      defaultText = ''[ "0.0.0.0" ] ++ lib.optional config.networking.enableIPv6 "[::0]"'';
      description = "The addresses of hosts that have no listen entries of their own.";
    };
    defaultHTTPListenPort = mkOption { type = types.port; default = 80; description = "The default HTTP port."; };
    defaultSSLListenPort = mkOption { type = types.port; default = 443; description = "The default HTTPS port."; };
    config = mkOption { type = types.str; default = ""; description = "The whole configuration, verbatim (replaces the generated one)."; };
    httpConfig = mkOption { type = types.lines; default = ""; description = "Lines of the http block (after the virtual hosts)."; };
    appendHttpConfig = mkOption { type = types.lines; default = ""; description = "Lines at the end of the http block."; };
    commonHttpConfig = mkOption { type = types.lines; default = ""; description = "Lines of the http block before the virtual hosts."; };
    eventsConfig = mkOption { type = types.lines; default = ""; description = "Lines of the events block."; };
    streamConfig = mkOption { type = types.lines; default = ""; description = "Lines of a stream block."; };
    appendConfig = mkOption { type = types.lines; default = ""; description = "Lines at the end of the configuration."; };
    commonServerConfig = mkOption { type = types.lines; default = ""; description = "Lines of every server block."; };
    preStart = mkOption { type = types.lines; default = ""; description = "Shell commands run before nginx starts."; };
    enableReload = mkOption {
      type = types.bool;
      default = false;
      description = "Whether the configuration is /etc/nginx/nginx.conf and a change reloads nginx instead of restarting it.";
    };
    checkConfig = mkOption { type = types.bool; default = true; description = "Whether nginx.conf is checked with `nginx -t` when it is built."; };
    clientMaxBodySize = mkOption { type = types.str; default = "10m"; description = "client_max_body_size."; };
    serverTokens = mkOption { type = types.bool; default = false; description = "Whether nginx shows its version."; };
    statusPage = mkOption { type = types.bool; default = false; description = "Whether /nginx_status answers on 127.0.0.1."; };
    sslProtocols = mkOption { type = types.str; default = "TLSv1.2 TLSv1.3"; description = "ssl_protocols."; };
    sslCiphers = mkOption { type = types.nullOr types.str; default = null; description = "ssl_ciphers."; };
    sslDhparam = mkOption { type = types.nullOr types.path; default = null; description = "ssl_dhparam."; };
    logError = mkOption { type = types.str; default = "stderr"; description = "error_log."; };
    resolver = {
      addresses = mkOption { type = types.listOf types.str; default = [ ]; description = "DNS servers nginx asks."; };
      valid = mkOption { type = types.str; default = ""; description = "How long answers are cached."; };
      ipv6 = mkOption { type = types.bool; default = true; description = "Whether AAAA records are looked up."; };
    };
    configFile = mkOption {
      internal = true;
      readOnly = true;
      type = types.path;
      default = configFile;
      description = "The generated nginx.conf.";
    };
  };

  options.networking.enableIPv6 = mkOption {
    type = types.bool;
    default = true;
    description = "Whether IPv6 is used (e.g. nginx listens on [::0] too).";
  };

  config = mkIf cfg.enable {
    assertions = [
      {
        assertion = !cfg.recommendedBrotliSettings && !cfg.recommendedZstdSettings;
        message = "services.nginx.recommendedBrotliSettings and recommendedZstdSettings need nginx modules that pynix's nginx does not have.";
      }
    ] ++
      lib.concatLists (mapAttrsToList (vname: v:
        [
          {
            assertion = lib.count (x: x) [ v.addSSL v.onlySSL v.forceSSL v.rejectSSL ] <= 1;
            message = "Options services.nginx.virtualHosts.\"${vname}\".addSSL, .onlySSL, .forceSSL and .rejectSSL are mutually exclusive.";
          }
          {
            assertion = !(hasSSL v) || (v.sslCertificate != null && v.sslCertificateKey != null);
            message = "services.nginx.virtualHosts.\"${vname}\": SSL (addSSL, onlySSL or forceSSL) needs sslCertificate and sslCertificateKey.";
          }
          {
            assertion = !v.enableACME && v.useACMEHost == null;
            message = "services.nginx.virtualHosts.\"${vname}\": ACME (enableACME, useACMEHost) is not supported by pynix; set sslCertificate and sslCertificateKey.";
          }
        ]
        ++ mapAttrsToList (path: l: {
          assertion = l.root == null || l.alias == null;
          message = "Only one of nginx root or alias can be specified on a location. (services.nginx.virtualHosts.\"${vname}\".locations.\"${path}\")";
        }) v.locations)
        cfg.virtualHosts);

    systemd.services.nginx = {
      description = "Nginx Web Server";
      wantedBy = [ "multi-user.target" ];
      wants = [ "network-online.target" ];
      after = [ "network.target" "network-online.target" ];
      stopIfChanged = false;
      preStart = ''
        ${cfg.preStart}
        ${execCommand} -t
      '';
      reloadIfChanged = cfg.enableReload;
      reloadTriggers = lib.optional cfg.enableReload configFile;
      serviceConfig = {
        ExecStart = execCommand;
        ExecReload = [
          "${execCommand} -t"
          "${pkgs.bash}/bin/bash -c 'kill -HUP $MAINPID'"
        ];
        Restart = "always";
        RestartSec = "10s";
        User = cfg.user;
        Group = cfg.group;
        RuntimeDirectory = "nginx";
        RuntimeDirectoryMode = "0750";
        CacheDirectory = "nginx";
        CacheDirectoryMode = "0750";
        LogsDirectory = "nginx";
        LogsDirectoryMode = "0750";
        AmbientCapabilities = "CAP_NET_BIND_SERVICE CAP_SYS_RESOURCE";
        CapabilityBoundingSet = "CAP_NET_BIND_SERVICE CAP_SYS_RESOURCE";
        NoNewPrivileges = true;
      };
    };

    environment.etc."nginx/nginx.conf" = mkIf cfg.enableReload { source = configFile; };

    users.users = lib.optionalAttrs (cfg.user == "nginx") {
      nginx = {
        group = cfg.group;
        isSystemUser = true;
        uid = 60;
      };
    };
    users.groups = lib.optionalAttrs (cfg.group == "nginx") {
      nginx.gid = 60;
    };
  };
}
