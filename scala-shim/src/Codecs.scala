package bigdlppmlaz

import java.io.{InputStream, OutputStream}
import java.nio.charset.StandardCharsets.UTF_8

import org.apache.hadoop.conf.{Configurable, Configuration}
import org.apache.hadoop.fs.Seekable
import org.apache.hadoop.io.compress._

/** Opens any encrypted object: the format is detected from its first bytes, as formats.probe() does. */
object Detect {
  private val Hint = "For headerless BigDL nativeaescbc data use the .nativecbc extension (crypto mode nativeaescbc)."

  def unknown(head: Array[Byte], len: Int, expected: String): UnknownFormatException = {
    val parquet = len >= 4 && new String(head, 0, 4, UTF_8) == "PAR1"
    val what = if (parquet) "a plaintext Parquet file" else "not an encrypted file we know"
    new UnknownFormatException(
      s"$what (expected $expected); it has neither the ppml-gcm magic nor a BigDL header. $Hint")
  }

  /** Whether the object read from `in` at offset 0 has neither the ppml-gcm magic nor a BigDL common
   * header (reads up to 400 bytes). The same rule as formats.detect() on the Python side.
   */
  def isPlaintext(in: InputStream): Boolean = {
    val head = new Array[Byte](BigdlCbc.HeaderSize)
    val n = Bytes.readFully(in, head, 0, head.length)
    !PpmlGcm.hasMagic(head, n) && BigdlCbc.parseHeader(head, n).isEmpty
  }

  /** Plaintext stream of the whole object read from `in` at offset 0. With `passPlain` an object in no
   * encrypted format is handed through unchanged (the detecting codecs on ordinary extensions like .csv);
   * without it, it is refused.
   */
  def open(in: InputStream, conf: Configuration, allowNative: Boolean, expected: String,
      passPlain: Boolean = false): InputStream = {
    val head = new Array[Byte](BigdlCbc.HeaderSize)
    val n12 = Bytes.readFully(in, head, 0, 12)
    if (PpmlGcm.hasMagic(head, n12)) {
      return PpmlGcm.openDecrypting(head.take(12), in, wrapped =>
        Bytes.lookupKey(conf, ConfNames.gcmKeyName(wrapped), "ppml-gcm file"))
    }
    val n = n12 + (if (n12 == 12) Bytes.readFully(in, head, 12, BigdlCbc.HeaderSize - 12) else 0)
    BigdlCbc.parseHeader(head, n) match {
      case Some(header) =>
        val keyString = Bytes.lookupKey(conf, ConfNames.cbcKeyName(header.encryptedKey), "BigDL aes/cbc/pkcs5padding file")
        val (macKey, aesKey) = BigdlCbc.commonKeys(keyString)
        val verify = conf == null || conf.getBoolean(ConfNames.Verify, true)
        in match {
          case seekable: Seekable if verify =>
            // Spark's readers hand the codec the opened file (an FSDataInputStream): check the whole file's MAC
            // in a first pass, then come back, so no row of a damaged file ever reaches the query.
            val from = seekable.getPos
            BigdlCbc.verifyMac(in, macKey)
            seekable.seek(from)
          case _ => // not seekable: only the end-of-stream check below (the task fails, the job commits nothing)
        }
        new BigdlCbc.DecryptingStream(in, aesKey, header.iv, BigdlCbc.MacSize, if (verify) Some(macKey) else None)
      case None if allowNative =>
        if (n < BigdlCbc.IvSize + BigdlCbc.Block)
          throw new IntegrityException("size does not fit nativeaescbc (IV plus whole AES blocks)")
        val key = BigdlCbc.nativeKey(Bytes.lookupKey(conf, ConfNames.NativeKey, "nativeaescbc file"))
        val rest = new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(head, BigdlCbc.IvSize, n - BigdlCbc.IvSize), in)
        new BigdlCbc.DecryptingStream(rest, key, head.take(BigdlCbc.IvSize), 0, None) // close() closes `in` too
      case None if passPlain => new java.io.SequenceInputStream(new java.io.ByteArrayInputStream(head, 0, n), in)
      case None => throw unknown(head, n, expected)
    }
  }
}

/** A plaintext object read through a detecting codec, cut into virtual segments of `Size` bytes so that
 * lines are assigned to splits by the same rule as ppml-gcm segments (see GcmSplitStream): reads never
 * span two segments and `currentSegment` is the segment of the bytes handed out last.
 */
final class PlainSegments(in: InputStream, first: Long) extends InputStream {
  var currentSegment: Long = first
  private var pos = first * PlainSegments.Size // file offset of the next byte

  override def read(b: Array[Byte], off: Int, len: Int): Int = {
    if (len == 0) return 0
    val room = PlainSegments.Size - pos % PlainSegments.Size
    val n = in.read(b, off, math.min(len.toLong, room).toInt)
    if (n > 0) { currentSegment = pos / PlainSegments.Size; pos += n }
    n
  }
  override def read(): Int = {
    val one = new Array[Byte](1)
    if (read(one, 0, 1) <= 0) -1 else one(0) & 0xff
  }
  override def close(): Unit = in.close()
}

object PlainSegments {
  val Size: Long = 64L << 10
}

/** A decompression stream that is just a decrypting stream. */
class PlainInputStream(raw: InputStream, plain: => InputStream) extends CompressionInputStream(raw) {
  private lazy val source = plain
  override def read(b: Array[Byte], off: Int, len: Int): Int = source.read(b, off, len)
  override def read(): Int = source.read()
  override def resetState(): Unit = throw new UnsupportedOperationException("encrypted streams cannot be reset")
}

/** Shared codec plumbing: no (de)compressor objects, the Hadoop configuration carries the keys. */
abstract class EncryptedCodec extends CompressionCodec with Configurable {
  private var conf: Configuration = _
  override def setConf(c: Configuration): Unit = conf = c
  override def getConf: Configuration = conf

  protected def allowNative: Boolean
  protected def expected: String
  /** Hand objects in no encrypted format through as they are (true only for the detecting codecs). */
  protected def passPlain: Boolean = false

  override def createInputStream(in: InputStream): CompressionInputStream =
    new PlainInputStream(in, Detect.open(in, conf, allowNative, expected, passPlain))
  override def createInputStream(in: InputStream, d: Decompressor): CompressionInputStream = createInputStream(in)
  override def createOutputStream(out: OutputStream): CompressionOutputStream =
    throw new UnsupportedOperationException(s"$getDefaultExtension output is not supported; write ppml-gcm (.ppmlgcm)")
  override def createOutputStream(out: OutputStream, c: Compressor): CompressionOutputStream = createOutputStream(out)
  override def getCompressorType: Class[_ <: Compressor] = null
  override def createCompressor(): Compressor = null
  override def getDecompressorType: Class[_ <: Decompressor] = null
  override def createDecompressor(): Decompressor = null
}

/** `.ppmlgcm`: ppml-gcm read (split at segment boundaries) and write. */
class PpmlGcmCodec extends EncryptedCodec with SplittableCompressionCodec {
  override def getDefaultExtension: String = ".ppmlgcm"
  override protected def allowNative = false
  override protected def expected = "ppml-gcm"

  override def createOutputStream(out: OutputStream): CompressionOutputStream = {
    val key = Bytes.lookupKey(getConf, ConfNames.WriteKey, "output (no write key)")
    val envelope = Option(getConf.get(ConfNames.WriteEnvelope)).map(Bytes.b64).getOrElse(
      throw new MissingKeyException("no ppml-gcm envelope registered: call bigdl_ppml_az.jvm.prepare_write first"))
    val enc = new PpmlGcm.EncryptingStream(out, key, envelope)
    new CompressionOutputStream(out) {
      override def write(b: Array[Byte], off: Int, len: Int): Unit = enc.write(b, off, len)
      override def write(b: Int): Unit = enc.write(b)
      override def finish(): Unit = enc.finish()
      override def resetState(): Unit = ()
    }
  }

  override def createInputStream(
      seekableIn: InputStream,
      d: Decompressor,
      start: Long,
      end: Long,
      mode: SplittableCompressionCodec.READ_MODE): SplitCompressionInputStream =
    new GcmSplitStream(seekableIn, start, end, getConf, passPlain)
}

/** One split of a ppml-gcm file. Segment i (i >= 1) belongs to the split holding its first ciphertext byte,
 * segment 0 to the split at offset 0. getPos() reports the start offset of the segment whose plaintext was
 * last handed out and reads never span two segments, so Hadoop's LineRecordReader (which reads while
 * getPos() <= adjusted end, then finishes the current line, and skips the first line when start != 0)
 * assigns every line to exactly one split.
 */
class GcmSplitStream(raw: InputStream, start: Long, end: Long, conf: Configuration, passPlain: Boolean = false)
    extends SplitCompressionInputStream(raw, start, end) {
  private val seekable = raw.asInstanceOf[Seekable]
  private var segmentPos: Long => Long = _ => 0L
  private var emptyAt = -1L // an empty split (no segment starts in it) reports this position, past its end
  private val source: InputStream = {
    seekable.seek(0)
    val prefix = new Array[Byte](12)
    val n = Bytes.readFully(raw, prefix, 0, 12)
    lazy val plain = { seekable.seek(0); Detect.isPlaintext(raw) }
    if (!PpmlGcm.hasMagic(prefix, n) && passPlain && plain) {
      // Plaintext behind a detecting codec (.csv...): split it like Spark would, in virtual segments.
      val seg = PlainSegments.Size
      val first = Math.floorDiv(start + seg - 1, seg)
      val last = Math.floorDiv(end - 1, seg)
      segmentPos = i => i * seg
      setStart(segmentPos(first))
      if (last >= first) {
        setEnd(segmentPos(last))
        seekable.seek(segmentPos(first))
        new PlainSegments(raw, first)
      } else {
        emptyAt = segmentPos(first)
        setEnd(emptyAt - 1)
        new java.io.ByteArrayInputStream(Array.emptyByteArray)
      }
    } else if (!PpmlGcm.hasMagic(prefix, n)) {
      // Not ppml-gcm despite the extension: the first split reads the whole object, the others nothing.
      seekable.seek(0)
      if (start == 0) Detect.open(raw, conf, allowNative = false, "ppml-gcm") else new java.io.ByteArrayInputStream(Array.emptyByteArray)
    } else {
      val env = PpmlGcm.readEnvelopeAfter(prefix, raw)
      val tink = new Array[Byte](PpmlGcm.TinkHeaderSize)
      if (Bytes.readFully(raw, tink, 0, tink.length) < tink.length)
        throw new IntegrityException("ppml-gcm object is truncated (shorter than header plus one tag)")
      val key = Bytes.lookupKey(conf, ConfNames.gcmKeyName(env.wrappedKey), "ppml-gcm file")
      val cipher = new PpmlGcm.SegmentCipher(key, env.raw, tink, encrypt = false)
      val seg = env.segmentSize.toLong
      val first = if (start == 0) 0L else math.max(1L, Math.floorDiv(start - env.length + seg - 1, seg))
      val last = math.max(0L, Math.floorDiv(end - 1 - env.length, seg))
      segmentPos = i => if (i == 0) 0L else env.length + i * seg
      setStart(segmentPos(first))
      if (last >= first) {
        // Every split authenticates the file's final segment before its first row: truncation at a segment
        // boundary is otherwise invisible to splits (and to limit(1)) that never reach the end.
        PpmlGcm.verifyFinal(seekable, raw, env, cipher, last)
        setEnd(segmentPos(last))
        seekable.seek(PpmlGcm.segmentStart(env, first))
        new PpmlGcm.DecryptingStream(raw, env, cipher, first)
      } else {
        emptyAt = segmentPos(first)
        setEnd(emptyAt - 1)
        new java.io.ByteArrayInputStream(Array.emptyByteArray)
      }
    }
  }

  override def getPos: Long = source match {
    case s: PpmlGcm.DecryptingStream => segmentPos(s.currentSegment)
    case p: PlainSegments => segmentPos(p.currentSegment)
    case _ => if (emptyAt >= 0) emptyAt else start
  }
  override def read(b: Array[Byte], off: Int, len: Int): Int = source.read(b, off, len)
  override def read(): Int = source.read()
  override def resetState(): Unit = throw new UnsupportedOperationException("encrypted streams cannot be reset")
}

/** `.cbc`: BigDL common files (and any ppml-gcm file so named); whole-file, because the HMAC covers it all.
 * Not a SplittableCompressionCodec on purpose: Spark would then cut each file into many splits, all but one
 * empty; the plain createInputStream already receives the seekable opened file (see Detect.open).
 */
class BigdlCbcCodec extends EncryptedCodec {
  override def getDefaultExtension: String = ".cbc"
  override protected def allowNative = false
  override protected def expected = "aes/cbc/pkcs5padding"
}

/** `.nativecbc`: BigDL nativeaescbc files (no header, no MAC): key from fs.ppml.secret.key.native. Read only. */
class BigdlNativeCbcCodec extends EncryptedCodec {
  override def getDefaultExtension: String = ".nativecbc"
  override protected def allowNative = true
  override protected def expected = "nativeaescbc"
}

/** Claims the extension named by fs.ppml.codec.extension (default ".ppmlenc"), e.g. ".tbl" for encrypted
 * files that kept their plaintext names (`ppml-az tpch encrypt`). Every format is detected from the bytes;
 * ppml-gcm files split as with PpmlGcmCodec. Plaintext files with that extension then fail in this session.
 */
class PpmlAnyCodec extends PpmlGcmCodec {
  override def getDefaultExtension: String =
    Option(getConf).flatMap(c => Option(c.get(ConfNames.Extension))).filter(_.nonEmpty).getOrElse(".ppmlenc")
  override protected def expected = "an encrypted file"
}

/** Claims the extension in fs.ppml.codec.detect.<slot> (".csv", ".json"...: jvm.configure() guards the common
 * text extensions, prepare_read claims those of the encrypted files it finds). The format is detected from the
 * first bytes: ppml-gcm and BigDL common objects are decrypted (or fail: no key, damaged), anything else is
 * plaintext and passes through unchanged, split as Spark splits text. So a .csv file in our format is never
 * read as rows of ciphertext, and plaintext .csv files keep working in the same session. Hadoop picks codecs
 * by extension and instantiates each class once per lookup, hence one class per slot.
 */
abstract class DetectingCodec(slot: Int) extends PpmlGcmCodec {
  override def getDefaultExtension: String =
    Option(getConf).flatMap(c => Option(c.get(ConfNames.DetectExtension + slot))).filter(_.nonEmpty)
      .getOrElse(s".ppml-unclaimed-$slot")
  override protected def expected = "an encrypted file"
  override protected def passPlain = true
}
class PpmlDetectCodec0 extends DetectingCodec(0)
class PpmlDetectCodec1 extends DetectingCodec(1)
class PpmlDetectCodec2 extends DetectingCodec(2)
class PpmlDetectCodec3 extends DetectingCodec(3)
class PpmlDetectCodec4 extends DetectingCodec(4)
class PpmlDetectCodec5 extends DetectingCodec(5)
class PpmlDetectCodec6 extends DetectingCodec(6)
class PpmlDetectCodec7 extends DetectingCodec(7)
class PpmlDetectCodec8 extends DetectingCodec(8)
class PpmlDetectCodec9 extends DetectingCodec(9)
class PpmlDetectCodec10 extends DetectingCodec(10)
class PpmlDetectCodec11 extends DetectingCodec(11)
class PpmlDetectCodec12 extends DetectingCodec(12)
class PpmlDetectCodec13 extends DetectingCodec(13)
class PpmlDetectCodec14 extends DetectingCodec(14)
class PpmlDetectCodec15 extends DetectingCodec(15)

/** Driver-side check for prepare_read: the codec Hadoop would pick for each file, exactly as Spark's readers
 * look it up (CompressionCodecFactory over this configuration), so a name the suffix match gets wrong is caught.
 */
object Guard {
  /** Paths separated by NUL in, the class name of each one's codec ("" for none) separated by NUL out. */
  def codecClasses(conf: Configuration, paths: String): String = {
    val factory = new CompressionCodecFactory(conf)
    paths.split("\u0000", -1).map { p =>
      Option(factory.getCodec(new org.apache.hadoop.fs.Path(p))).map(_.getClass.getName).getOrElse("")
    }.mkString("\u0000")
  }
}
