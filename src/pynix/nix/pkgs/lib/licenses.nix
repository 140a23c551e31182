# Licenses: `shortName` (SPDX where there is one), `fullName`, and `free`
# (false makes a package unfree: refused unless config.allowUnfree).
let
  free = shortName: fullName: { inherit shortName fullName; spdxId = shortName; free = true; };
  unfree = shortName: fullName: { inherit shortName fullName; free = false; };
in
{
  agpl3Plus = free "AGPL-3.0-or-later" "GNU Affero General Public License v3.0 or later";
  asl20 = free "Apache-2.0" "Apache License 2.0";
  bsd2 = free "BSD-2-Clause" "BSD 2-clause \"Simplified\" License";
  bsd3 = free "BSD-3-Clause" "BSD 3-clause \"New\" or \"Revised\" License";
  bsdOriginal = free "BSD-4-Clause" "BSD 4-clause \"Original\" or \"Old\" License";
  curl = free "curl" "curl License";
  gpl2Only = free "GPL-2.0-only" "GNU General Public License v2.0 only";
  gpl2Plus = free "GPL-2.0-or-later" "GNU General Public License v2.0 or later";
  gpl3Only = free "GPL-3.0-only" "GNU General Public License v3.0 only";
  gpl3Plus = free "GPL-3.0-or-later" "GNU General Public License v3.0 or later";
  isc = free "ISC" "ISC License";
  lgpl21Plus = free "LGPL-2.1-or-later" "GNU Lesser General Public License v2.1 or later";
  lgpl3Plus = free "LGPL-3.0-or-later" "GNU Lesser General Public License v3.0 or later";
  mit = free "MIT" "MIT License";
  mpl20 = free "MPL-2.0" "Mozilla Public License 2.0";
  openssl = free "OpenSSL" "OpenSSL License";
  postgresql = free "PostgreSQL" "PostgreSQL License";
  psfl = free "Python-2.0" "Python Software Foundation License";
  publicDomain = { shortName = "publicDomain"; fullName = "Public Domain"; free = true; };
  zlib = free "Zlib" "zlib License";
  unfree = unfree "unfree" "Unfree";
  unfreeRedistributable = unfree "unfreeRedistributable" "Unfree redistributable";
}
