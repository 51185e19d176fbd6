// Package control owns the control socket of a running server (as
// unbound-control's): the Unix socket server that carries out operators'
// commands on the engine through its public methods, and the client that
// `recursor control` runs.
//
// # Protocol
//
// One command per connection. The client sends one line: the command and
// its arguments separated by tabs (so that a file name may hold spaces),
// ended by a newline. A command that takes data (load-cache) sends it
// after that line, until it closes its side of the connection.
//
// The server answers with lines. Output lines start with "> ", which the
// client strips. The last line is "ok" or "error: " and one line saying
// why; a connection that ends without either is an error too (the server
// went away). For example:
//
//	client: flush\twww.example.com\tA
//	server: > flushed 1 cache entries of www.example.com. A
//	server: ok
//
// dump-cache streams the cache file (cache.Cache.Dump's format) as output
// lines, and the client writes them to the file named, through a
// temporary file renamed into place; load-cache sends the file's bytes.
// Files are thus read and written by the operator running the client,
// with the operator's permissions, not by the server.
//
// The socket is created with mode 0600 and, on Linux, a connection from a
// user other than the server's own (or root) is refused.
package control
