package bigdlppmlaz

import java.io.{IOException, InputStream}
import java.nio.charset.StandardCharsets.UTF_8
import java.security.MessageDigest
import java.util.Base64

import org.apache.hadoop.conf.Configuration

/** Hadoop configuration names shared with the Python side (bigdl_ppml_az/jvm/keys.py).
 *
 * Every name holding key material contains "secret", so Spark's default spark.redaction.regex
 * ((?i)secret|password|token|access[.]?key) hides it in the UI, the REST API and event logs.
 */
object ConfNames {
  /** fs.ppml.secret.key.gcm.<ref> / .cbc.<ref>: Base64 key material for one wrapped data key. */
  val KeyPrefix = "fs.ppml.secret.key."
  /** Base64 of the nativeaescbc data key *string* (nativeaescbc files carry no key reference). */
  val NativeKey = "fs.ppml.secret.key.native"
  /** Base64 of the 32-byte data key used when writing ppml-gcm output through the codec. */
  val WriteKey = "fs.ppml.secret.key.write"
  /** Base64 of the exact envelope bytes (public metadata, wrapped key) written in front of each output file. */
  val WriteEnvelope = "fs.ppml.write.envelope"
  /** "false" skips BigDL common HMAC verification (salvaging damaged legacy data only). */
  val Verify = "fs.ppml.verify"
  /** Extension claimed by PpmlAnyCodec (e.g. ".tbl"). */
  val Extension = "fs.ppml.codec.extension"
  /** fs.ppml.codec.detect.<slot>: extension claimed by PpmlDetectCodec<slot> (header detection, plaintext passes). */
  val DetectExtension = "fs.ppml.codec.detect."
  /** Local primary key file path for the Parquet KmsClient (the path, never the key). */
  val LocalPrimaryKeyPath = "fs.ppml.local.primaryKeyPath"

  def gcmKeyName(wrappedKey: Array[Byte]): String = KeyPrefix + "gcm." + Bytes.ref(wrappedKey)
  def cbcKeyName(encryptedKeyString: String): String = KeyPrefix + "cbc." + Bytes.ref(encryptedKeyString.getBytes(UTF_8))
}

/** Errors carry the same texts as the Python side (bigdl_ppml_az.errors); never key material or plaintext. */
class PpmlException(message: String) extends IOException(message)
class UnknownFormatException(message: String) extends PpmlException(message)
class IntegrityException(message: String) extends PpmlException(message)
class WrongKeyException(message: String) extends PpmlException(message)
class MissingKeyException(message: String) extends PpmlException(message)

object Bytes {
  /** Public reference to a wrapped key: first 32 hex digits of its SHA-256 (the wrapped key is not secret). */
  def ref(data: Array[Byte]): String = {
    val digest = MessageDigest.getInstance("SHA-256").digest(data)
    digest.take(16).map(b => f"${b & 0xff}%02x").mkString
  }

  def b64(s: String): Array[Byte] = Base64.getDecoder.decode(s.trim)

  /** Read up to len bytes; fewer only at end of stream. */
  def readFully(in: InputStream, buf: Array[Byte], off: Int, len: Int): Int = {
    var total = 0
    while (total < len) {
      val n = in.read(buf, off + total, len - total)
      if (n < 0) return total
      total += n
    }
    total
  }

  def lookupKey(conf: Configuration, name: String, what: String): Array[Byte] = {
    val value = if (conf == null) null else conf.get(name)
    if (value == null || value.isEmpty) {
      // kms=azure-skr: the driver registered the wrapped key; this executor attests and has the key released.
      Skr.lookup(conf, name) match {
        case Some(key) => return key
        case None =>
      }
      throw new MissingKeyException(
        s"no data key registered for this $what (key ref ${name.stripPrefix(ConfNames.KeyPrefix)}): call " +
          "bigdl_ppml_az.jvm.prepare_read(spark, paths, kms options) on the driver before reading it")
    }
    b64(value)
  }
}
