// Package peers benchmarks core/model's typed collections side by side with
// the typed stores Go developers use today over embedded engines:
// badgerhold (Badger) and bolthold (bbolt). It is a module of its own so
// that the peers stay out of netabase's own dependencies; see
// BENCHMARKS.md for the command and the figures.
package peers
