package bigdlppmlaz

import java.io.InputStream
import java.nio.ByteBuffer
import java.nio.charset.StandardCharsets.UTF_8
import java.security.MessageDigest
import javax.crypto.{Cipher, Mac}
import javax.crypto.spec.{IvParameterSpec, SecretKeySpec}

/** BigDL PPML's layouts (see python/bigdl_ppml_az/formats/bigdl.py): "common" (400-byte header, AES-CBC-PKCS5,
 * HMAC-SHA256 trailer over the ciphertext) and "nativeaescbc" (IV then AES-CBC-PKCS5, no MAC).
 */
object BigdlCbc {
  val HeaderSize = 400
  val IvSize = 16
  val MacSize = 32
  val Block = 16

  final case class CommonHeader(encryptedKey: String, iv: Array[Byte])

  /** Parse a 400-byte common header, or None when the bytes are not one (same rules as the Python side). */
  def parseHeader(head: Array[Byte], len: Int): Option[CommonHeader] = {
    if (len < HeaderSize) return None
    val bb = ByteBuffer.wrap(head)
    val keyLen = bb.getInt
    val ivLen = bb.getInt
    if (ivLen != IvSize || keyLen <= 0 || keyLen > HeaderSize - 8 - IvSize) return None
    val keyEnd = 8 + keyLen
    if ((keyEnd + IvSize until HeaderSize).exists(i => head(i) != 0x80.toByte)) return None
    val decoder = UTF_8.newDecoder()
    val key =
      try decoder.decode(ByteBuffer.wrap(head, 8, keyLen)).toString
      catch { case _: java.nio.charset.CharacterCodingException => return None }
    Some(CommonHeader(key, java.util.Arrays.copyOfRange(head, keyEnd, keyEnd + IvSize)))
  }

  /** BigDL's key quirk: UTF-8 bytes [0:16] of the key string are the HMAC key, [16:32] the AES key, zero-padded. */
  def commonKeys(keyString: Array[Byte]): (Array[Byte], Array[Byte]) =
    (java.util.Arrays.copyOfRange(keyString, 0, 16), java.util.Arrays.copyOfRange(keyString, 16, 32))

  def nativeKey(keyString: Array[Byte]): Array[Byte] = {
    val key =
      try Bytes.b64(new String(keyString, UTF_8))
      catch { case _: IllegalArgumentException => throw new WrongKeyException("nativeaescbc needs a Base64 data key string") }
    if (!Set(16, 24, 32).contains(key.length))
      throw new WrongKeyException(s"nativeaescbc data key decodes to ${key.length} bytes; AES needs 16, 24 or 32")
    key
  }

  def truncated(trailer: Int, total: Long): IntegrityException = new IntegrityException(
    if (trailer > 0) "BigDL aes/cbc/pkcs5padding file is truncated"
    else s"CBC ciphertext length $total is not a positive multiple of 16 (file truncated?)")

  def macFailed(): IntegrityException = new IntegrityException(
    "HMAC-SHA256 check failed: the file was modified or truncated, or the data key is wrong " +
      "(set fs.ppml.verify=false only to salvage damaged legacy data)")

  def hmac(key: Array[Byte]): Mac = {
    val m = Mac.getInstance("HmacSHA256")
    m.init(new SecretKeySpec(key, "HmacSHA256"))
    m
  }

  /** First pass: read `in` (just after the header) to its end, computing HMAC-SHA256 over everything but the
   * 32-byte trailer and comparing it with the trailer in constant time. Memory is one 64 KiB chunk. The caller
   * seeks back and decrypts, so a damaged file fails before any plaintext is handed out.
   */
  def verifyMac(in: InputStream, macKey: Array[Byte]): Unit = {
    val mac = hmac(macKey)
    val chunk = 1 << 16
    val buf = new Array[Byte](chunk + MacSize)
    var held = 0 // bytes in buf(0 until held); the last MacSize of them may be the trailer
    var total = 0L
    var eof = false
    while (!eof) {
      val n = Bytes.readFully(in, buf, held, chunk)
      eof = n < chunk
      held += n
      val usable = held - MacSize
      if (usable > 0) {
        mac.update(buf, 0, usable)
        total += usable
        System.arraycopy(buf, usable, buf, 0, MacSize)
        held = MacSize
      }
    }
    if (held != MacSize || total == 0 || total % Block != 0) throw truncated(MacSize, total)
    if (!MessageDigest.isEqual(mac.doFinal(), java.util.Arrays.copyOf(buf, MacSize))) throw macFailed()
  }

  /** Streaming AES-CBC decryption of everything after the header; the last `trailer` bytes are the HMAC-SHA256
   * trailer, checked (constant time, when a MAC key is given) before the final plaintext block is released.
   * On seekable input Detect.open runs verifyMac first; this check then still catches a file that changed
   * between the two passes.
   */
  final class DecryptingStream(
      in: InputStream, aesKey: Array[Byte], iv: Array[Byte], trailer: Int, macKey: Option[Array[Byte]])
      extends InputStream {
    private val cipher = Cipher.getInstance("AES/CBC/NoPadding")
    cipher.init(Cipher.DECRYPT_MODE, new SecretKeySpec(aesKey, "AES"), new IvParameterSpec(iv))
    private val mac = macKey.map(hmac)
    private val chunk = 1 << 16
    private val inBuf = new Array[Byte](chunk + trailer + Block)
    private var inLen = 0 // bytes held back in inBuf (possible trailer)
    private var out = new Array[Byte](0)
    private var outPos = 0
    private var held = new Array[Byte](0) // last plaintext block: only released once it is known not to be the last
    private var eof = false
    private var total = 0L

    private def fill(): Boolean = {
      if (eof) return false
      val n = Bytes.readFully(in, inBuf, inLen, chunk)
      inLen += n
      val atEnd = n < chunk
      // Keep the trailer back; process whole blocks only.
      var usable = inLen - trailer
      if (!atEnd) usable -= usable % Block
      if (usable < 0) usable = 0
      val ciphertext = java.util.Arrays.copyOfRange(inBuf, 0, usable)
      System.arraycopy(inBuf, usable, inBuf, 0, inLen - usable)
      inLen -= usable
      total += usable
      mac.foreach(_.update(ciphertext))
      var plain = if (usable > 0) cipher.update(ciphertext) else new Array[Byte](0)
      if (plain == null) plain = new Array[Byte](0)
      val all = held ++ plain
      if (!atEnd) {
        val keep = math.min(Block, all.length)
        held = all.takeRight(keep)
        out = all.dropRight(keep)
      } else {
        eof = true
        if (inLen != trailer || total == 0 || total % Block != 0) throw truncated(trailer, total)
        mac.foreach { m =>
          if (!MessageDigest.isEqual(m.doFinal(), java.util.Arrays.copyOfRange(inBuf, 0, MacSize))) throw macFailed()
        }
        val fin = cipher.doFinal()
        out = unpad(all ++ (if (fin == null) Array.emptyByteArray else fin))
      }
      outPos = 0
      true
    }

    private def unpad(data: Array[Byte]): Array[Byte] = {
      val pad = if (data.isEmpty) 0 else data.last & 0xff
      val ok = pad >= 1 && pad <= Block && data.length >= pad &&
        MessageDigest.isEqual(data.takeRight(pad), Array.fill(pad)(pad.toByte))
      if (!ok) throw new WrongKeyException("bad CBC padding: the data key is wrong or the file is damaged")
      data.dropRight(pad)
    }

    override def read(): Int = {
      val one = new Array[Byte](1)
      if (read(one, 0, 1) <= 0) -1 else one(0) & 0xff
    }

    override def read(b: Array[Byte], off: Int, len: Int): Int = {
      if (len == 0) return 0
      while (outPos >= out.length) { if (!fill()) return -1 }
      val n = math.min(len, out.length - outPos)
      System.arraycopy(out, outPos, b, off, n)
      outPos += n
      n
    }

    override def close(): Unit = in.close()
  }
}
