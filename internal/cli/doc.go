// Package cli wires tkgcert's commands: one file per command, each an options
// struct with Complete, Validate and Run that calls a library package the
// controller shares. Results go to Out, diagnostics and progress to ErrOut.
package cli
