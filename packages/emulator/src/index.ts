// Public barrel of @kbatch/emulator.
export {};
