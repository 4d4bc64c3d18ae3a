import { getCsrfToken } from './api-client.ts';
import { networkError, toApiError } from './api-error.ts';

export interface UploadHandle<T> {
  done: Promise<T>;
  abort(): void;
}

/**
 * A multipart upload with progress (fetch cannot report upload progress; XMLHttpRequest can).
 * Errors come back as the same ApiError as every other call.
 */
export function uploadFile<T>(
  url: string,
  file: File,
  onProgress: (sent: number, total: number) => void,
): UploadHandle<T> {
  return uploadFiles<T>(url, [file], onProgress);
}

/** Several files in one multipart upload (each as a `file` part), with progress. */
export function uploadFiles<T>(
  url: string,
  files: readonly File[],
  onProgress: (sent: number, total: number) => void,
): UploadHandle<T> {
  const size = files.reduce((sum, file) => sum + file.size, 0);
  const request = new XMLHttpRequest();
  const done = new Promise<T>((resolve, reject) => {
    request.open('POST', url);
    request.responseType = 'json';
    request.setRequestHeader('accept', 'application/json');
    const token = getCsrfToken();
    if (token) request.setRequestHeader('x-csrf-token', token);
    request.upload.onprogress = (event) =>
      onProgress(event.loaded, event.lengthComputable ? event.total : size);
    request.onload = () => {
      if (request.status >= 200 && request.status < 300) resolve(request.response as T);
      else
        reject(
          toApiError(
            request.status,
            request.response,
            request.getResponseHeader('x-request-id') ?? undefined,
          ),
        );
    };
    request.onerror = () => reject(networkError(new Error('upload failed')));
    request.onabort = () => reject(new DOMException('Upload cancelled', 'AbortError'));
    const form = new FormData();
    for (const file of files) form.append('file', file, file.name);
    request.send(form);
  });
  return { done, abort: () => request.abort() };
}
