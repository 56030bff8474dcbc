/** The label holding an image's content hash (builds are skipped when it is unchanged). */
export const IMAGE_HASH_LABEL = 'warden.image.hash';
