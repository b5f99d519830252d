// Package raftpb holds the protocol's wire and disk types, generated from
// raft.proto, plus a few hand-written helpers.
//
// The generated code is committed. Regenerate it with `go generate ./raftpb`
// (needs protoc from Debian's protobuf-compiler; protoc-gen-go is pinned by a
// tool directive in go.mod). CI regenerates and fails on any difference.
package raftpb

//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --go_out=. --go_opt=paths=source_relative raft.proto"
