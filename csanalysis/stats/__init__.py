"""Statistics the analyses share: the bootstrap over accounts (``bootstrap``) and ranking (``ranking``)."""
