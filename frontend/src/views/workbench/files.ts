// Stored attachments (no public link) are read through the API with the agent's bearer
// token — a plain link would carry no Authorization header — as a blob, then saved through an
// object URL that is revoked afterwards. Raster images may be previewed inline (as data: URLs).
import { call, client } from '@/api/client'
import { isApiError } from '@/api/errors'

export interface AttachmentRef {
  conversationId: string
  messageId: string
  index: number
}

/** The file's bytes (audited by the server); `inline` asks for a previewable image. */
export function fetchAttachment(ref: AttachmentRef, inline = false): Promise<Blob> {
  return call(() =>
    client.GET('/api/v1/conversations/{conversation_id}/messages/{message_id}/attachments/{index}', {
      params: {
        path: { conversation_id: ref.conversationId, message_id: ref.messageId, index: ref.index },
        query: inline ? { inline: true } : {},
      },
      parseAs: 'blob',
    }),
  ) as unknown as Promise<Blob>
}

/** How long a saved file's object URL lives (the browser has started the download by then). */
export const REVOKE_AFTER_MS = 10_000

/** Save a blob under a name: a temporary link to an object URL, clicked, then revoked. */
export function saveBlob(blob: Blob, filename: string): void {
  const url = URL.createObjectURL(blob)
  const link = document.createElement('a')
  link.href = url
  link.download = filename
  link.rel = 'noopener'
  link.style.display = 'none'
  document.body.appendChild(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), REVOKE_AFTER_MS)
}

/**
 * A blob as a data: URL, for an <img> preview: the page's CSP allows images from 'self' and
 * data: only (not blob:), and a data: URL holds nothing to revoke.
 */
export function dataUrl(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader()
    reader.onload = () => resolve(String(reader.result))
    reader.onerror = () => reject(reader.error ?? new Error('the file could not be read'))
    reader.readAsDataURL(blob)
  })
}

/** Raster images are the only files previewed in the page (never PDF, SVG or HTML). */
export function previewable(contentType: string | null): boolean {
  return /^image\/(png|jpeg|gif|webp|bmp)$/i.test((contentType ?? '').split(';')[0]!.trim())
}

/** The i18n key explaining why a file could not be read, or null for the generic text. */
export function fileErrorKey(error: unknown): string | null {
  if (!isApiError(error)) return null
  if (error.code === 'attachment_not_stored') return 'workbench.files.notStored'
  if (error.code === 'attachment_missing') return 'workbench.files.missing'
  if (error.status === 404) return 'workbench.files.notFound'
  if (error.status === 403) return 'workbench.files.forbidden'
  return null
}
