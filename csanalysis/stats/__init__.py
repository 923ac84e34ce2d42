"""Statistics the analyses share: the bootstrap over accounts (``bootstrap``), ranking (``ranking``), the Wilson
interval of a proportion (``proportion``), Holm's correction for multiple tests (``multitest``), how a p-value
is written (``pvalue``) and the separation of a binary outcome by a logistic design and monotone likelihood in
Cox regression (``separation``)."""
