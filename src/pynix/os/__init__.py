"""Systems: building a configuration, switching a machine to it, activation,
the machine namespace and the service managers (systemd or supervisord)."""
