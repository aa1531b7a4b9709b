package bigdlppmlaz

import java.io.{InputStream, OutputStream}
import java.nio.ByteBuffer
import java.nio.charset.StandardCharsets.UTF_8
import java.security.SecureRandom
import javax.crypto.{AEADBadTagException, Cipher, Mac}
import javax.crypto.spec.{GCMParameterSpec, SecretKeySpec}

import com.fasterxml.jackson.databind.ObjectMapper
import org.apache.hadoop.fs.Seekable

/** ppml-gcm (see python/bigdl_ppml_az/formats/ppml_gcm.py): envelope, then Tink AES256_GCM_HKDF streaming. */
object PpmlGcm {
  val Magic: Array[Byte] = "PPMLGCM1".getBytes(UTF_8)
  val MaxEnvelopeJson: Int = 64 << 10
  val MinSegment: Int = 4096
  val MaxSegment: Int = 4 << 20
  val TinkHeaderSize = 40
  val TagSize = 16
  private val mapper = new ObjectMapper()

  /** Parsed envelope plus its raw bytes (the associated data). */
  final case class Envelope(raw: Array[Byte], keyId: String, wrappedKey: Array[Byte], segmentSize: Int) {
    def length: Int = raw.length
  }

  def hasMagic(head: Array[Byte], len: Int): Boolean =
    len >= Magic.length && java.util.Arrays.equals(head, 0, Magic.length, Magic, 0, Magic.length)

  /** Read the envelope from a stream positioned at offset 0. */
  def readEnvelope(in: InputStream): Envelope = {
    val prefix = new Array[Byte](12)
    if (Bytes.readFully(in, prefix, 0, 12) < 12 || !hasMagic(prefix, 12))
      throw new UnknownFormatException("not a ppml-gcm object (magic PPMLGCM1 missing)")
    readEnvelopeAfter(prefix, in)
  }

  /** Finish reading the envelope whose first 12 bytes were already read. */
  def readEnvelopeAfter(prefix: Array[Byte], in: InputStream): Envelope = {
    val jsonLen = ByteBuffer.wrap(prefix, 8, 4).getInt.toLong & 0xffffffffL
    if (jsonLen > MaxEnvelopeJson)
      throw new IntegrityException(s"ppml-gcm envelope length $jsonLen is implausible (file damaged?)")
    val raw = java.util.Arrays.copyOf(prefix, 12 + jsonLen.toInt)
    if (Bytes.readFully(in, raw, 12, jsonLen.toInt) < jsonLen)
      throw new IntegrityException("ppml-gcm object is truncated inside its envelope")
    parse(raw)
  }

  def parse(raw: Array[Byte]): Envelope = {
    try {
      val node = mapper.readTree(new String(raw, 12, raw.length - 12, UTF_8))
      val version = node.get("version").asInt(-1)
      if (version != 1) throw new UnknownFormatException(s"ppml-gcm envelope version $version is not supported")
      val seg = node.get("segmentSize").asInt(-1)
      if (seg < MinSegment || seg > MaxSegment)
        throw new IntegrityException(s"ppml-gcm envelope is malformed (segment size $seg)")
      Envelope(raw, node.get("keyId").asText(), Bytes.b64(node.get("wrappedKey").asText()), seg)
    } catch {
      case e: PpmlException => throw e
      case e: Exception => throw new IntegrityException(s"ppml-gcm envelope is malformed (${e.getClass.getSimpleName})")
    }
  }

  /** Offset of segment i's ciphertext (i >= 1); segment 0 follows the Tink header. */
  def segmentStart(env: Envelope, i: Long): Long =
    if (i == 0) env.length + TinkHeaderSize else env.length + i * env.segmentSize

  private def hmac(key: Array[Byte], parts: Array[Byte]*): Array[Byte] = {
    val mac = Mac.getInstance("HmacSHA256")
    mac.init(new SecretKeySpec(key, "HmacSHA256"))
    parts.foreach(p => mac.update(p))
    mac.doFinal()
  }

  /** HKDF-SHA256 (RFC 5869) for one 32-byte output block. */
  def hkdf(ikm: Array[Byte], salt: Array[Byte], info: Array[Byte]): Array[Byte] =
    hmac(hmac(salt, ikm), info, Array[Byte](1))

  /** AES-GCM per segment under the HKDF-derived key; nonce = prefix(7) || u32be(index) || last flag. */
  final class SegmentCipher(dataKey: Array[Byte], associatedData: Array[Byte], tinkHeader: Array[Byte], encrypt: Boolean) {
    if (dataKey.length != 32) throw new WrongKeyException(s"ppml-gcm data keys are 32 bytes, got ${dataKey.length}")
    if (tinkHeader.length != TinkHeaderSize || tinkHeader(0) != TinkHeaderSize)
      throw new IntegrityException("ppml-gcm streaming header is damaged")
    private val key = new SecretKeySpec(hkdf(dataKey, tinkHeader.slice(1, 33), associatedData), "AES")
    private val nonce = java.util.Arrays.copyOfRange(tinkHeader, 33, 45) // 7-byte prefix, 5 bytes filled per segment
    private val cipher = Cipher.getInstance("AES/GCM/NoPadding")

    private def init(index: Long, last: Boolean): Unit = {
      ByteBuffer.wrap(nonce, 7, 5).putInt(index.toInt).put((if (last) 1 else 0).toByte)
      cipher.init(if (encrypt) Cipher.ENCRYPT_MODE else Cipher.DECRYPT_MODE, key, new GCMParameterSpec(128, nonce))
    }

    /** Decrypt in place: returns the plaintext length. */
    def decrypt(index: Long, buf: Array[Byte], len: Int, last: Boolean, out: Array[Byte]): Int = {
      init(index, last)
      try cipher.doFinal(buf, 0, len, out, 0)
      catch {
        case _: AEADBadTagException =>
          throw new IntegrityException(
            s"segment $index failed authentication: the file was modified, truncated or reordered, " +
              "or the data key is wrong")
      }
    }

    def encrypt(index: Long, buf: Array[Byte], len: Int, last: Boolean, out: Array[Byte]): Int = {
      init(index, last)
      cipher.doFinal(buf, 0, len, out, 0)
    }
  }

  /** Plaintext stream over segments first.., reading ciphertext sequentially from `in` (positioned at segment
   * `first`). The last segment is recognised by end of stream, so the file size is never needed; a read never
   * returns bytes of two segments, so `currentSegment` tells which segment the caller's bytes came from.
   */
  final class DecryptingStream(in: InputStream, env: Envelope, cipher: SegmentCipher, first: Long) extends InputStream {
    private val ct = new Array[Byte](env.segmentSize)
    private val pt = new Array[Byte](env.segmentSize)
    private var ptLen = 0
    private var ptPos = 0
    private var next = first
    private var lookahead = -1
    private var done = false
    var currentSegment: Long = first

    private def load(): Boolean = {
      if (done) return false
      val expected = if (next == 0) env.segmentSize - TinkHeaderSize else env.segmentSize
      var n = 0
      if (lookahead >= 0) { ct(0) = lookahead.toByte; n = 1; lookahead = -1 }
      n += Bytes.readFully(in, ct, n, expected - n)
      if (n == 0 && next == first && first > 0) { done = true; return false } // split past the last segment
      var last = n < expected
      if (!last) {
        val b = in.read()
        if (b < 0) last = true else lookahead = b
      }
      if (n < TagSize) {
        throw new IntegrityException(
          if (next == 0) "ppml-gcm object is truncated (shorter than header plus one tag)"
          else "ppml-gcm object is truncated or has trailing bytes (last segment too short)")
      }
      ptLen = cipher.decrypt(next, ct, n, last, pt)
      ptPos = 0
      currentSegment = next
      next += 1
      done = last
      true
    }

    override def read(): Int = {
      val one = new Array[Byte](1)
      if (read(one, 0, 1) <= 0) -1 else one(0) & 0xff
    }

    override def read(b: Array[Byte], off: Int, len: Int): Int = {
      if (len == 0) return 0
      while (ptPos >= ptLen) { if (!load()) return -1 }
      val n = math.min(len, ptLen - ptPos)
      System.arraycopy(pt, ptPos, b, off, n)
      ptPos += n
      n
    }

    override def available(): Int = ptLen - ptPos
    override def close(): Unit = in.close()
  }

  /** Open a ppml-gcm stream whose first 12 bytes (magic and length) were already consumed. On a seekable
   * stream (what Spark's readers pass) the final segment is authenticated first, so a truncated file fails
   * before its first row even under limit(1).
   */
  def openDecrypting(prefix: Array[Byte], in: InputStream, keyOf: Array[Byte] => Array[Byte]): DecryptingStream = {
    val env = readEnvelopeAfter(prefix, in)
    val tink = new Array[Byte](TinkHeaderSize)
    if (Bytes.readFully(in, tink, 0, TinkHeaderSize) < TinkHeaderSize)
      throw new IntegrityException("ppml-gcm object is truncated (shorter than header plus one tag)")
    val cipher = new SegmentCipher(keyOf(env.wrappedKey), env.raw, tink, encrypt = false)
    in match {
      case seekable: Seekable =>
        val from = seekable.getPos
        verifyFinal(seekable, in, env, cipher, 0L)
        seekable.seek(from)
      case _ => // not seekable: the end-of-stream check in DecryptingStream still fails the task
    }
    new DecryptingStream(in, env, cipher, 0)
  }

  /** Authenticate the object's final segment (the one sealed with the last-segment flag). The file length is
   * not known to a codec, so the last segment is found by probing whether segment k has a first byte:
   * exponential then binary search from segment `hint`, about 2*log2(segments) one-byte reads.
   * Leaves the stream at an unspecified position: callers seek back.
   */
  def verifyFinal(seekable: Seekable, in: InputStream, env: Envelope, cipher: SegmentCipher, hint: Long): Unit = {
    def exists(k: Long): Boolean = // Hadoop streams throw EOFException on a seek past the end
      try { seekable.seek(segmentStart(env, k)); in.read() >= 0 } catch { case _: java.io.EOFException => false }
    if (!exists(0))
      throw new IntegrityException("ppml-gcm object is truncated (shorter than header plus one tag)")
    var lo = if (hint > 0 && exists(hint)) hint else 0L
    var step = 1L
    var hi = -1L
    while (hi < 0) {
      val probe = lo + step
      if (probe >= (1L << 32) || !exists(probe)) hi = probe else { lo = probe; step *= 2 }
    }
    while (hi - lo > 1) {
      val mid = lo + (hi - lo) / 2
      if (exists(mid)) lo = mid else hi = mid
    }
    val expected = if (lo == 0) env.segmentSize - TinkHeaderSize else env.segmentSize
    val ct = new Array[Byte](expected)
    seekable.seek(segmentStart(env, lo))
    val n = Bytes.readFully(in, ct, 0, expected)
    if (n < TagSize)
      throw new IntegrityException("ppml-gcm object is truncated or has trailing bytes (last segment too short)")
    cipher.decrypt(lo, ct, n, last = true, new Array[Byte](expected))
  }

  /** Writes envelope, Tink header, then sealed segments; the last segment is sealed by finish(). */
  final class EncryptingStream(out: OutputStream, dataKey: Array[Byte], envelopeBytes: Array[Byte]) extends OutputStream {
    private val env = parse(envelopeBytes)
    private val tink = new Array[Byte](TinkHeaderSize)
    tink(0) = TinkHeaderSize.toByte
    private val random = new SecureRandom()
    locally {
      val rnd = new Array[Byte](TinkHeaderSize - 1)
      random.nextBytes(rnd)
      System.arraycopy(rnd, 0, tink, 1, rnd.length)
    }
    private val cipher = new SegmentCipher(dataKey, env.raw, tink, encrypt = true)
    private val buf = new Array[Byte](env.segmentSize)
    private val sealedBuf = new Array[Byte](env.segmentSize)
    private var capacity = env.segmentSize - TinkHeaderSize - TagSize
    private var used = 0
    private var index = 0L
    private var finished = false
    out.write(env.raw)
    out.write(tink)

    private def seal(last: Boolean): Unit = {
      val n = cipher.encrypt(index, buf, used, last, sealedBuf)
      out.write(sealedBuf, 0, n)
      used = 0
      index += 1
      capacity = env.segmentSize - TagSize
      if (index >= (1L << 32)) throw new IntegrityException("ppml-gcm objects are limited to 2**32 segments")
    }

    override def write(b: Int): Unit = write(Array(b.toByte), 0, 1)

    override def write(b: Array[Byte], off: Int, len: Int): Unit = {
      if (finished) throw new IllegalStateException("write after finish")
      var o = off
      var remaining = len
      while (remaining > 0) {
        if (used == capacity) seal(last = false)
        val n = math.min(remaining, capacity - used)
        System.arraycopy(b, o, buf, used, n)
        used += n; o += n; remaining -= n
      }
    }

    def finish(): Unit = if (!finished) { seal(last = true); finished = true }
    override def flush(): Unit = out.flush()
    override def close(): Unit = { finish(); out.close() }
  }
}
