package bigdlppmlaz

import java.net.URI
import java.net.http.{HttpClient, HttpRequest, HttpResponse}
import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.{Files, Paths}
import java.security.{MessageDigest, SecureRandom}
import java.time.Duration
import java.util.Base64
import javax.crypto.Cipher
import javax.crypto.spec.{GCMParameterSpec, SecretKeySpec}

import com.fasterxml.jackson.databind.ObjectMapper
import org.apache.hadoop.conf.Configuration
import org.apache.parquet.crypto.KeyAccessDeniedException
import org.apache.parquet.crypto.keytools.KmsClient

/** Parquet Modular Encryption KMS client; pyarrow's counterpart is bigdl_ppml_az.kms.pme_client.PmeKmsClient.
 *
 * parquet.encryption.kms.instance.id names the backend explicitly; any other id is refused:
 *  - "local": the 32-byte primary key file named by fs.ppml.local.primaryKeyPath (the path is in the
 *    configuration, the key stays in its 0600 file); wrapped key = Base64(nonce[12] || AES-256-GCM(key)) with the
 *    key fingerprint as associated data, exactly bigdl_ppml_az.kms.local.LocalKms.wrap.
 *  - "azure" (or "AzureKeyManagementService"): Azure Key Vault at parquet.encryption.kms.instance.url (https
 *    only), REST wrapkey/unwrapkey with RSA-OAEP-256 under the bearer token PME passes
 *    (parquet.encryption.key.access.token); the master key identifier is a key name, "name/version", or a full
 *    key URL of that same vault. The identifier of a file being read comes from its footer, which whoever wrote
 *    the file controls: a URL on another host or without https is refused before any request, so the token
 *    never leaves for a host the configuration did not name. Wrapped key = Base64 of the RSA ciphertext.
 */
class PpmlKmsClient extends KmsClient {
  private var backend: PpmlKmsClient.Backend = _

  override def initialize(conf: Configuration, kmsInstanceID: String, kmsInstanceURL: String, accessToken: String): Unit = {
    val id = Option(kmsInstanceID).map(_.trim.toLowerCase(java.util.Locale.ROOT)).getOrElse("")
    backend = id match {
      case "local" =>
        val path = conf.get(ConfNames.LocalPrimaryKeyPath)
        if (path == null) throw new KeyAccessDeniedException(s"kms local needs ${ConfNames.LocalPrimaryKeyPath} (primary key file path)")
        new PpmlKmsClient.Local(path)
      case "azure" | "azurekeymanagementservice" =>
        if (kmsInstanceURL == null || kmsInstanceURL == KmsClient.KMS_INSTANCE_URL_DEFAULT)
          throw new KeyAccessDeniedException("Azure Key Vault needs parquet.encryption.kms.instance.url (the vault URL)")
        new PpmlKmsClient.Azure(PpmlKmsClient.vaultOrigin(kmsInstanceURL), accessToken)
      case "azure-skr" | "skr" | "azureskr" | "azure-secure-key-release" =>
        if (kmsInstanceURL == null || kmsInstanceURL == KmsClient.KMS_INSTANCE_URL_DEFAULT)
          throw new KeyAccessDeniedException("Azure Key Vault needs parquet.encryption.kms.instance.url (the vault URL)")
        new PpmlKmsClient.SecureKeyRelease(conf, PpmlKmsClient.vaultOrigin(kmsInstanceURL), accessToken)
      case other =>
        throw new KeyAccessDeniedException(
          s"parquet.encryption.kms.instance.id=$other: unknown KMS; the JVM client supports local, azure and azure-skr " +
            "(set it with bigdl_ppml_az.jvm.pme.configure_session, or read plug-in KMS data with ppml-enc)")
    }
  }

  override def wrapKey(keyBytes: Array[Byte], masterKeyIdentifier: String): String = backend.wrap(keyBytes, masterKeyIdentifier)
  override def unwrapKey(wrappedKey: String, masterKeyIdentifier: String): Array[Byte] = backend.unwrap(wrappedKey, masterKeyIdentifier)
}

object PpmlKmsClient {
  /** "https://host[:port]" of the configured vault; anything but an https URL with a host is refused. */
  def vaultOrigin(url: String): String = {
    val uri = try URI.create(url.trim) catch {
      case _: IllegalArgumentException => throw new KeyAccessDeniedException(s"vault URL $url is not a URL")
    }
    if (uri.getScheme == null || !uri.getScheme.equalsIgnoreCase("https") || uri.getHost == null)
      throw new KeyAccessDeniedException(s"vault URL $url must be https://<host>[:port]; refusing to send a token over ${Option(uri.getScheme).getOrElse("no scheme")}")
    val port = if (uri.getPort == -1) "" else s":${uri.getPort}"
    s"https://${uri.getHost.toLowerCase(java.util.Locale.ROOT)}$port"
  }

  private def hostPort(uri: URI): String =
    s"${Option(uri.getHost).getOrElse("").toLowerCase(java.util.Locale.ROOT)}:${if (uri.getPort == -1) 443 else uri.getPort}"

  /** The key URL for a master key id, only inside `vault` (same host and port, https); checked before any request. */
  def pinnedKeyUrl(vault: String, master: String): String = {
    val m = Option(master).getOrElse("").trim
    if (!m.contains("://")) {
      if (m.isEmpty || m.count(_ == '/') > 1 || !m.forall(c => c.isLetterOrDigit || c == '-' || c == '/'))
        throw new KeyAccessDeniedException(s"master key id '$m' is not a Key Vault key name or name/version")
      return s"$vault/keys/$m"
    }
    val uri = try URI.create(m) catch {
      case _: IllegalArgumentException => throw new KeyAccessDeniedException(s"master key id '$m' is not a URL")
    }
    val vaultUri = URI.create(vault)
    val scheme = Option(uri.getScheme).getOrElse("")
    if (!scheme.equalsIgnoreCase("https") || hostPort(uri) != hostPort(vaultUri) || uri.getRawUserInfo != null)
      throw new KeyAccessDeniedException(
        s"master key id names host $scheme://${Option(uri.getRawAuthority).getOrElse("")}, outside the configured vault $vault; " +
          "refused (a Parquet footer is untrusted input; set the vault to that key's vault if you trust this file)")
    val path = Option(uri.getRawPath).getOrElse("").stripSuffix("/")
    if (!path.startsWith("/keys/") || uri.getRawQuery != null || uri.getRawFragment != null)
      throw new KeyAccessDeniedException(s"master key id $m is not a Key Vault key URL ($vault/keys/<name>[/<version>])")
    s"$vault$path"
  }

  trait Backend {
    def wrap(key: Array[Byte], master: String): String
    def unwrap(wrapped: String, master: String): Array[Byte]
  }

  /** The 32 bytes of a local primary key file: a regular file of exactly that size, read with a bound (never
   * /dev/zero, a FIFO or a huge file). */
  def readPrimaryKey(path: String): Array[Byte] = {
    val p = Paths.get(path)
    try {
      if (!Files.isRegularFile(p))
        throw new KeyAccessDeniedException(s"$path: not a regular file; a local primary key file holds exactly 32 bytes")
      if (Files.size(p) != 32) throw new KeyAccessDeniedException(s"$path: a local primary key file holds exactly 32 bytes")
      val in = Files.newInputStream(p)
      try {
        val key = new Array[Byte](32)
        if (Bytes.readFully(in, key, 0, 32) != 32 || in.read() != -1)
          throw new KeyAccessDeniedException(s"$path: a local primary key file holds exactly 32 bytes")
        key
      } finally in.close()
    } catch {
      case e: KeyAccessDeniedException => throw e
      case e: java.io.IOException => throw new KeyAccessDeniedException(s"$path: cannot read primary key file (${e.getClass.getSimpleName})")
    }
  }

  /** Seconds to wait for a Retry-After header: delta-seconds or an HTTP-date (RFC 9110), 1 when absent or bad. */
  def retryAfterSeconds(header: String, now: java.time.ZonedDateTime): Long = {
    val text = Option(header).map(_.trim).getOrElse("")
    if (text.isEmpty) return 1L
    if (text.forall(_.isDigit)) return scala.util.Try(text.toLong).getOrElse(1L)
    scala.util.Try(java.time.ZonedDateTime.parse(text, java.time.format.DateTimeFormatter.RFC_1123_DATE_TIME))
      .map(when => math.max(0L, Duration.between(now, when).getSeconds))
      .getOrElse(1L)
  }

  final class Local(path: String) extends Backend {
    private val primary = readPrimaryKey(path)
    private val keyId: Array[Byte] = {
      val d = MessageDigest.getInstance("SHA-256").digest("bigdl-ppml-az local key id\u0000".getBytes(UTF_8) ++ primary)
      ("local:" + d.take(16).map(b => f"${b & 0xff}%02x").mkString).getBytes(UTF_8)
    }
    private val random = new SecureRandom()

    private def cipher(mode: Int, nonce: Array[Byte]): Cipher = {
      val c = Cipher.getInstance("AES/GCM/NoPadding")
      c.init(mode, new SecretKeySpec(primary, "AES"), new GCMParameterSpec(128, nonce))
      c.updateAAD(keyId)
      c
    }

    def wrap(key: Array[Byte], master: String): String = {
      val nonce = new Array[Byte](12)
      random.nextBytes(nonce)
      Base64.getEncoder.encodeToString(nonce ++ cipher(Cipher.ENCRYPT_MODE, nonce).doFinal(key))
    }

    def unwrap(wrapped: String, master: String): Array[Byte] = {
      val blob = try Base64.getDecoder.decode(Option(wrapped).getOrElse("")) catch {
        case _: IllegalArgumentException => throw new KeyAccessDeniedException("wrapped data key is not Base64 (damaged footer?)")
      }
      if (blob.length < 12 + 16) // nonce and GCM tag at the least
        throw new KeyAccessDeniedException(s"wrapped data key is ${blob.length} bytes, too short for nonce and tag (damaged footer?)")
      try cipher(Cipher.DECRYPT_MODE, blob.take(12)).doFinal(blob, 12, blob.length - 12)
      catch {
        case _: java.security.GeneralSecurityException =>
          throw new KeyAccessDeniedException(s"data key does not unwrap with primary key $path (wrong key?)")
      }
    }
  }

  /** kms=azure-skr: wrap locally with the primary key's public key (RSA-OAEP-256, no release), unwrap with the
   * key released to this attested executor (bigdlppmlaz.Skr: once per process and key). Master key ids are pinned
   * to the configured vault like the azure backend's, before any request. */
  final class SecureKeyRelease(conf: Configuration, vaultUrl: String, token: String) extends Backend {
    private def settings: Skr.Settings = {
      val s = try Skr.settings(conf) catch { case e: SkrException => throw new KeyAccessDeniedException(e.getMessage) }
      if (s.vaultUrl != vaultUrl)
        throw new KeyAccessDeniedException(s"kms=azure-skr: parquet.encryption.kms.instance.url $vaultUrl is not the " +
          s"vault of ${Skr.Prefix}vaultUrl ${s.vaultUrl}; set both with bigdl_ppml_az.jvm.pme.configure_session")
      s
    }
    private def access: String = {
      if (token == null || token.isEmpty || token == KmsClient.KEY_ACCESS_TOKEN_DEFAULT)
        throw new KeyAccessDeniedException("Azure Key Vault needs an access token (parquet.encryption.key.access.token)")
      token
    }

    def wrap(key: Array[Byte], master: String): String = {
      val url = pinnedKeyUrl(vaultUrl, master)
      try Base64.getEncoder.encodeToString(Skr.wrapLocally(settings, access, url, key))
      catch { case e: SkrException => throw new KeyAccessDeniedException(e.getMessage) }
    }

    def unwrap(wrapped: String, master: String): Array[Byte] = {
      val url = pinnedKeyUrl(vaultUrl, master) // the pin: before the token is used for anything
      val blob = try Base64.getDecoder.decode(Option(wrapped).getOrElse("")) catch {
        case _: IllegalArgumentException => throw new KeyAccessDeniedException("wrapped data key is not Base64 (damaged footer?)")
      }
      try Skr.unwrapDataKey(Skr.releasedKey(settings, url, access), blob, "RSA-OAEP-256")
      catch { case e: PpmlException => throw new KeyAccessDeniedException(e.getMessage) }
    }
  }

  final class Azure(vaultUrl: String, token: String) extends Backend {
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build()
    private val mapper = new ObjectMapper()
    private val b64url = Base64.getUrlEncoder.withoutPadding()

    private def keyUrl(master: String): String = pinnedKeyUrl(vaultUrl, master)

    private def call(master: String, op: String, value: Array[Byte]): Array[Byte] = {
      if (token == null || token.isEmpty || token == KmsClient.KEY_ACCESS_TOKEN_DEFAULT)
        throw new KeyAccessDeniedException("Azure Key Vault needs an access token (parquet.encryption.key.access.token)")
      val url = keyUrl(master) // the pin: before the token is used for anything
      val body = mapper.createObjectNode().put("alg", "RSA-OAEP-256").put("value", b64url.encodeToString(value))
      val request = HttpRequest.newBuilder(URI.create(s"$url/$op?api-version=7.4"))
        .timeout(Duration.ofSeconds(60))
        .header("Authorization", "Bearer " + token)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(mapper.writeValueAsString(body)))
        .build()
      var attempt = 0
      while (true) {
        val response =
          try http.send(request, HttpResponse.BodyHandlers.ofString())
          catch {
            case e: java.io.IOException => // connection reset, timeout: retried like a 503
              attempt += 1
              if (attempt >= 5) throw new KeyAccessDeniedException(s"Key Vault $op on $url failed: ${e.getClass.getSimpleName} (after $attempt attempts)")
              Thread.sleep(math.min(1L << attempt, 10L) * 1000L)
              null
          }
        if (response != null) {
        val status = response.statusCode()
        if (status == 200) return Base64.getUrlDecoder.decode(mapper.readTree(response.body()).get("value").asText())
        attempt += 1
        if ((status == 429 || status >= 500) && attempt < 5) {
          val retryAfter = retryAfterSeconds(response.headers().firstValue("Retry-After").orElse(""), java.time.ZonedDateTime.now())
          Thread.sleep(math.min(retryAfter, 10L) * 1000L)
        } else {
          // The body is Key Vault's error object (code and message); it holds no key material.
          val detail = scala.util.Try(mapper.readTree(response.body()).path("error").path("message").asText("")).getOrElse("")
          throw new KeyAccessDeniedException(s"Key Vault $op on $url failed: HTTP $status $detail".trim)
        }
        }
      }
      throw new IllegalStateException("unreachable")
    }

    def wrap(key: Array[Byte], master: String): String = Base64.getEncoder.encodeToString(call(master, "wrapkey", key))
    def unwrap(wrapped: String, master: String): Array[Byte] = call(master, "unwrapkey", Base64.getDecoder.decode(wrapped))
  }
}
