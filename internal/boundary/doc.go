// Package boundary holds the test that keeps the package boundaries of
// STYLE.md habit 1 true: formats is the leaf vocabulary and imports no other
// package of the module; realtime, batch and reporting import formats, not
// each other (not even through a third package); scheduler knows its jobs
// through an interface and imports none of them. It has no non-test code.
package boundary
