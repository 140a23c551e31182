"""Wire formats shared with Nix, byte for byte.

* :mod:`.nixbase32` - Nix's base-32 text encoding;
* :mod:`.hashing` - hashes in every printed form;
* :mod:`.storepath` - store path shape, names, and path computation;
* :mod:`.contentaddress` - ``text:``/``fixed:`` content addresses;
* :mod:`.nar` / :mod:`.nar_reader` - NAR writing, hashing, reading, restoring;
* :mod:`.derivation` - the ``.drv`` ATerm, drvPath, hashModulo, output paths;
* :mod:`.narinfo` - binary cache ``.narinfo`` files and signature fingerprints;
* :mod:`.signing` - ed25519 keys and signatures in Nix's text formats.

This package imports only the standard library and ``cryptography``.
"""
