"""DR (digital radiography) analyzers: WS 76-2020 methods, IEC 62220-1 MTF/NNPS/DQE."""
