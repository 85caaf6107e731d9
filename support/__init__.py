"""What the tests and the benchmarks share: scripted model servers (well-behaved and hostile),
an LSP editor driven by pytest-lsp, free ports. Neither ``tests`` nor ``bench`` imports the other."""
