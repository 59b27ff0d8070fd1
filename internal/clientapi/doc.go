// Package clientapi tests the Go client against the server's real API
// handler, run in process. The client is a module of its own that imports
// no server package, so the tests that need both sides live here, in the
// server's module.
package clientapi
