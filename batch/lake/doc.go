// Package lake stores Tidemark's lake objects — Parquet snapshots, changelog
// segments, manifests — behind one small interface, Store, with two
// implementations: a local directory (file:///path, the embedded default) and
// any S3 API (AWS S3, or MinIO locally).
//
// The model is S3's: a flat namespace of keys ("tables/shop/orders/gen=3/
// dt=2024-05-01/part-00000.parquet") whose "/" separators only look like
// folders. Every Put is atomic: a reader sees the whole new object or the
// previous state (the old object or none), never a prefix of the new bytes.
// The local store writes a temporary file in the target folder, fsyncs it and
// renames it over the key; S3 makes an object visible only when its PutObject
// or CompleteMultipartUpload succeeds, and the uploader aborts a multipart
// upload that failed.
//
// Atomic objects are the building block of the batch layer's publish
// protocol: data objects first, a manifest last, and readers that trust only
// what a manifest names (see DESIGN.md, "Atomic publish").
//
// Keys are relative, "/"-separated, without empty, "." or ".." elements, and
// no element may start with ".tmp-" (the local store's temporary files).
// A Store is safe for concurrent use.
package lake
