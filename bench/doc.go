// Package bench holds tkgcert's benchmarks. They run only with -bench (the
// lab they need is started from TestMain then); see README.md.
package bench
