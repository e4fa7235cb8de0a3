"""Which files the chat accepts: size limit, allowed kinds, and the check of the bytes themselves.

A file is accepted when its extension belongs to an allowed kind, the type the browser declared (if
any) fits that extension, and its first bytes are those of the format the extension names (images,
PDF and archives by their magic number; text as text without NUL bytes). A renamed executable thus
fails the byte check. The add-on serves and sends a file with the type of its recognised format,
never with the declared one.
"""

from dataclasses import dataclass

from ..errors import AddonError

MIB = 1024 * 1024
DEFAULT_MAX_BYTES = 10 * MIB
# The largest limit a support lead may set: the files live in the add-on's database until, and
# after, they reach Jira.
MAX_BYTES_CEILING = 50 * MIB
MIN_BYTES_FLOOR = 1024
FILENAME_MAX_CHARS = 255
# Browsers declare this (or nothing) for a type they do not know; the bytes decide then.
UNKNOWN_DECLARED_TYPES = ("", "application/octet-stream")

IMAGES, PDF, TEXT, ARCHIVES = "images", "pdf", "text", "archives"
KINDS = (IMAGES, PDF, TEXT, ARCHIVES)
DEFAULT_KINDS = list(KINDS)
KIND_LABELS = {
    IMAGES: ("images (PNG, JPEG, GIF, WebP)", "images (PNG, JPEG, GIF, WebP)"),
    PDF: ("PDF", "PDF"),
    TEXT: ("textes et journaux (TXT, LOG, CSV)", "text and log files (TXT, LOG, CSV)"),
    ARCHIVES: ("archives (ZIP, 7Z, GZ, TAR, RAR)", "archives (ZIP, 7Z, GZ, TAR, RAR)"),
}


class FileRejected(AddonError):
    """A file the chat does not accept; the message names the limit it broke."""

    code = "file_rejected"
    status = 415


class FileTooLarge(FileRejected):
    code = "file_too_large"
    status = 413


@dataclass(frozen=True)
class Format:
    kind: str
    content_type: str  # the type the add-on serves the file with
    declared_types: tuple  # the types a browser may declare for it, besides UNKNOWN_DECLARED_TYPES

    def matches(self, data):
        """Tell whether `data` starts as this format's files do (MAGIC_CHECKS, by content type)."""
        return MAGIC_CHECKS[self.content_type](data)


def _starts(*prefixes):
    return lambda data: any(data.startswith(prefix) for prefix in prefixes)


def _is_text(data):
    """Text: no NUL byte, valid UTF-8 or a single-byte encoding, and no control characters other
    than tab, line feed, form feed, carriage return and escape (colour codes in logs)."""
    if b"\x00" in data:
        return False
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    allowed = {"\t", "\n", "\f", "\r", "\x1b"}
    return not any(ord(char) < 32 and char not in allowed for char in text)


MAGIC_CHECKS = {
    "image/png": _starts(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": _starts(b"\xff\xd8\xff"),
    "image/gif": _starts(b"GIF87a", b"GIF89a"),
    "image/webp": lambda data: data[:4] == b"RIFF" and data[8:12] == b"WEBP",
    "application/pdf": _starts(b"%PDF-"),
    "text/plain": _is_text,
    "text/csv": _is_text,
    "application/zip": _starts(b"PK\x03\x04", b"PK\x05\x06"),
    "application/x-7z-compressed": _starts(b"7z\xbc\xaf\x27\x1c"),
    "application/gzip": _starts(b"\x1f\x8b"),
    "application/x-tar": lambda data: data[257:262] == b"ustar",
    "application/vnd.rar": _starts(b"Rar!\x1a\x07"),
}

FORMATS = {
    "png": Format(IMAGES, "image/png", ("image/png",)),
    "jpg": Format(IMAGES, "image/jpeg", ("image/jpeg", "image/pjpeg")),
    "jpeg": Format(IMAGES, "image/jpeg", ("image/jpeg", "image/pjpeg")),
    "gif": Format(IMAGES, "image/gif", ("image/gif",)),
    "webp": Format(IMAGES, "image/webp", ("image/webp",)),
    "pdf": Format(PDF, "application/pdf", ("application/pdf", "application/x-pdf")),
    "txt": Format(TEXT, "text/plain", ("text/plain",)),
    "log": Format(TEXT, "text/plain", ("text/plain", "text/x-log")),
    "csv": Format(TEXT, "text/csv", ("text/csv", "text/plain", "application/vnd.ms-excel")),
    "zip": Format(ARCHIVES, "application/zip", ("application/zip", "application/x-zip-compressed",
                                                "application/x-zip")),
    "7z": Format(ARCHIVES, "application/x-7z-compressed", ("application/x-7z-compressed",)),
    "gz": Format(ARCHIVES, "application/gzip", ("application/gzip", "application/x-gzip")),
    "tgz": Format(ARCHIVES, "application/gzip", ("application/gzip", "application/x-gzip",
                                                 "application/x-compressed-tar")),
    "tar": Format(ARCHIVES, "application/x-tar", ("application/x-tar",)),
    "rar": Format(ARCHIVES, "application/vnd.rar", ("application/vnd.rar", "application/x-rar-compressed",
                                                    "application/x-rar")),
}


@dataclass(frozen=True)
class Limits:
    """The site's limits: the largest size in bytes and the allowed kinds."""

    max_bytes: int
    kinds: tuple

    @classmethod
    def from_settings(cls, settings):
        max_bytes = settings.get("attachment_max_bytes") or DEFAULT_MAX_BYTES
        kinds = settings.get("attachment_types")
        return cls(int(max_bytes), tuple(KINDS if kinds is None else kinds))

    def extensions(self):
        return sorted(ext for ext, fmt in FORMATS.items() if fmt.kind in self.kinds)

    def to_dict(self):
        """Serialize the limits for the chat's script, which checks a file before the upload."""
        return {
            "max_bytes": self.max_bytes,
            "kinds": list(self.kinds),
            "extensions": self.extensions(),
            "types": sorted({declared for ext in self.extensions() for declared in FORMATS[ext].declared_types}),
            "max_size_fr": size_text(self.max_bytes, "fr"),
            "max_size_en": size_text(self.max_bytes, "en"),
            "allowed_fr": self.allowed_text("fr"),
            "allowed_en": self.allowed_text("en"),
        }

    def allowed_text(self, lang):
        index = 0 if lang == "fr" else 1
        return ", ".join(KIND_LABELS[kind][index] for kind in KINDS if kind in self.kinds)


def size_text(size_bytes, lang):
    """Format a size for people: "10 Mo" / "10 MB", "512 Ko" / "512 KB", with one decimal when needed."""
    for unit_bytes, fr_unit, en_unit in ((MIB, "Mo", "MB"), (1024, "Ko", "KB")):
        if size_bytes >= unit_bytes:
            value = round(size_bytes / unit_bytes, 1)
            number = f"{value:.0f}" if value == int(value) else f"{value:.1f}"
            if lang == "fr":
                return f"{number.replace('.', ',')} {fr_unit}"
            return f"{number} {en_unit}"
    return f"{size_bytes} o" if lang == "fr" else f"{size_bytes} B"


def clean_filename(raw):
    """Strip a file name to its last path part without control characters, at most FILENAME_MAX_CHARS
    long with its extension kept. Return "" when nothing is left."""
    name = str(raw or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if ord(char) >= 32 and char != "\x7f").strip().strip(".")
    if len(name) > FILENAME_MAX_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and len(ext) <= 10:
            name = stem[:FILENAME_MAX_CHARS - len(ext) - 1] + "." + ext
        else:
            name = name[:FILENAME_MAX_CHARS]
    return name


def extension_of(filename):
    stem, dot, ext = filename.rpartition(".")
    return ext.lower() if dot and stem else ""


def size_over_limit_text(size_bytes, max_bytes, lang):
    """Format a size over the limit so that it reads larger than the limit: in bytes when both
    round to the same text ("10 485 761 o", not "10 Mo")."""
    text = size_text(size_bytes, lang)
    if text != size_text(max_bytes, lang):
        return text
    if lang == "fr":
        return f"{size_bytes:,} o".replace(",", "\u202f")
    return f"{size_bytes:,} B"


def check_size(size_bytes, limits, filename=""):
    if size_bytes > limits.max_bytes:
        raise FileTooLarge(
            f"Le fichier « {filename} » ({size_over_limit_text(size_bytes, limits.max_bytes, 'fr')}) dépasse "
            f"la taille maximale de {size_text(limits.max_bytes, 'fr')} ; envoyez un fichier plus petit ou "
            f"compressé. / The file \"{filename}\" ({size_over_limit_text(size_bytes, limits.max_bytes, 'en')}) "
            f"exceeds the maximum size of {size_text(limits.max_bytes, 'en')}; send a smaller or compressed file.")


def check_file(filename, declared_type, data, limits):
    """Return the Format of an accepted file; raise FileRejected (or FileTooLarge) naming the limit."""
    if not filename:
        raise FileRejected("Le fichier n'a pas de nom ; renommez-le puis envoyez-le de nouveau. / "
                          "The file has no name; rename it and send it again.")
    if not data:
        raise FileRejected(f"Le fichier « {filename} » est vide. / The file \"{filename}\" is empty.")
    check_size(len(data), limits, filename)
    fmt = FORMATS.get(extension_of(filename))
    if fmt is None or fmt.kind not in limits.kinds:
        raise FileRejected(
            f"Le type du fichier « {filename} » n'est pas accepté. Types acceptés : "
            f"{limits.allowed_text('fr')}. / The type of the file \"{filename}\" is not accepted. "
            f"Accepted types: {limits.allowed_text('en')}.")
    declared = (declared_type or "").split(";", 1)[0].strip().lower()
    if declared not in UNKNOWN_DECLARED_TYPES and declared not in fmt.declared_types:
        raise FileRejected(
            f"Le fichier « {filename} » se présente comme {declared}, ce qui ne correspond pas à son "
            f"extension. / The file \"{filename}\" is declared as {declared}, which does not match its "
            f"extension.")
    if not fmt.matches(data):
        raise FileRejected(
            f"Le contenu du fichier « {filename} » n'est pas celui d'un fichier .{extension_of(filename)} ; "
            f"il est refusé. Types acceptés : {limits.allowed_text('fr')}. / The content of the file "
            f"\"{filename}\" is not that of a .{extension_of(filename)} file, so it is rejected. "
            f"Accepted types: {limits.allowed_text('en')}.")
    return fmt


def validate_limits(max_bytes, kinds):
    """Check the limits a support lead submits; return (max_bytes, kinds in KINDS order), or raise
    ValueError with a bilingual sentence naming the bad value."""
    is_size = isinstance(max_bytes, int) and not isinstance(max_bytes, bool)
    if not is_size or not MIN_BYTES_FLOOR <= max_bytes <= MAX_BYTES_CEILING:
        # Name a size as the settings page shows it, in megabytes, rather than the bytes it sends.
        got_fr = size_text(max_bytes, "fr") if is_size and max_bytes >= 0 else repr(max_bytes)[:40]
        got_en = size_text(max_bytes, "en") if is_size and max_bytes >= 0 else repr(max_bytes)[:40]
        raise ValueError(
            f"La taille maximale va de {size_text(MIN_BYTES_FLOOR, 'fr')} à {size_text(MAX_BYTES_CEILING, 'fr')} "
            f"(reçu {got_fr}). / The maximum size is {size_text(MIN_BYTES_FLOOR, 'en')} to "
            f"{size_text(MAX_BYTES_CEILING, 'en')} (got {got_en}).")
    if not isinstance(kinds, list) or not kinds or any(kind not in KINDS for kind in kinds):
        raise ValueError(
            f"Choisissez au moins un type de fichier parmi {', '.join(KINDS)} (reçu {kinds!r}). / "
            f"Choose at least one file kind among {', '.join(KINDS)} (got {kinds!r}).")
    return max_bytes, [kind for kind in KINDS if kind in kinds]
