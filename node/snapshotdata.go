package node

// EncodeSnapshotData returns the data of a snapshot as the runtime writes
// it (see "Snapshot payloads" in envelope.go): a header holding the
// address book members, then the state machine's bytes smData. It is for
// code that makes snapshots without a Node, like the simulator, whose
// snapshots a Replica must be able to restore.
func EncodeSnapshotData(members map[uint64]string, smData []byte) []byte {
	return append(encodeSnapshotHeader(members), smData...)
}

// DecodeSnapshotData splits the data of a snapshot made by the runtime (or
// EncodeSnapshotData) into the address book and the state machine's bytes.
// Empty data (the bootstrap snapshot) is an empty book and state; anything
// else without a valid header is an error.
func DecodeSnapshotData(data []byte) (members map[uint64]string, smData []byte, err error) {
	return decodeSnapshotHeader(data)
}
