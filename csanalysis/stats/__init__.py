"""Statistics the analyses share: the bootstrap over accounts (``bootstrap``), ranking (``ranking``) and how a
p-value is written (``pvalue``)."""
