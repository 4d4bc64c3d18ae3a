/**
 * multipart/form-data with one `file` part per file, as a browser's upload form sends it
 * (tests of the upload routes: documents, images, sheet imports).
 */
export function multipartFiles(files: { name: string; bytes: Buffer | Uint8Array | string }[]) {
  const boundary = '----braincells-upload';
  const body = Buffer.concat([
    ...files.flatMap((file) => [
      Buffer.from(
        `--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${file.name}"\r\ncontent-type: application/octet-stream\r\n\r\n`,
      ),
      Buffer.from(file.bytes),
      Buffer.from('\r\n'),
    ]),
    Buffer.from(`--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}
