// Package snap stores Raft snapshots in files, one snapshot per file, in a
// directory of its own, through a vfs.FS.
//
// # Saving
//
// Save writes the file under a temporary name (the final name plus ".tmp"),
// fsyncs it, renames it to its final name, fsyncs the directory, and only
// then removes the oldest snapshots beyond the number to keep (and fsyncs
// the directory again). A crash at any point leaves either the previous
// snapshots or the new one loadable, never a partial file under a final
// name; New removes temporary files a crash left behind. Every error, an
// fsync error included, is returned: the caller must treat it as fatal.
//
// # Loading
//
// Load returns the newest snapshot that decodes and checks. If newer files
// are corrupt (bad magic or version, wrong size, checksum mismatch, a name
// that disagrees with the header), it logs each at Error level with the
// file name and the reason, and returns the newest valid one. If there are
// snapshot files but none is valid it returns an error wrapping the
// *CorruptError of each; ErrNoSnapshot means there are no snapshot files.
//
// # File names
//
// A snapshot of term T at index I is named fmt.Sprintf("%016x-%016x.snap",
// T, I), so that names sort by (term, index). Other names in the directory
// are ignored.
//
// # File format
//
// All integers are little-endian. The checksum is CRC-32C (Castagnoli) of
// every byte before it. C is confLen and D is dataLen.
//
//	offset   size  field
//	     0      8  magic "ironsnap"
//	     8      4  format version, uint32 = 1
//	    12      4  C: length of the configuration, uint32 (at most 16 MiB)
//	    16      8  term of the last entry the snapshot covers, uint64
//	    24      8  index of the last entry the snapshot covers, uint64
//	    32      8  D: length of the state-machine data, uint64
//	    40      C  configuration: raftpb.ConfState, protobuf (deterministic)
//	  40+C      D  data: the state-machine image, opaque to this package
//	40+C+D      4  CRC-32C of bytes [0, 40+C+D), uint32
//
//	0          8     12    16     24      32    40         40+C    40+C+D
//	+----------+-----+-----+------+-------+-----+----------+-------+--------+
//	| ironsnap | ver |  C  | term | index |  D  | ConfState| data  | crc32c |
//	+----------+-----+-----+------+-------+-----+----------+-------+--------+
//
// A file is valid only if its size is exactly 44+C+D, so a
// truncated or extended file is caught before the checksum is computed.
// docs/formats.md describes the same format.
package snap
