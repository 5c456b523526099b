// Bramble's version: a module of its own, so `bramble --version` answers without loading anything else.
export const VERSION = "0.1.0";
