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

/** Parquet Modular Encryption KMS client; pyarrow's counterpart is bigdl_ppml_az.jvm.pme.PpmlPyarrowKmsClient.
 *
 * parquet.encryption.kms.instance.id selects the backend:
 *  - "local": the 32-byte primary key file named by fs.ppml.local.primaryKeyPath (the path is in the
 *    configuration, the key stays in its 0600 file); wrapped key = Base64(nonce[12] || AES-256-GCM(key)) with the
 *    key fingerprint as associated data, exactly bigdl_ppml_az.kms.local.LocalKms.wrap.
 *  - anything else: Azure Key Vault at parquet.encryption.kms.instance.url, REST wrapkey/unwrapkey with
 *    RSA-OAEP-256 under the bearer token PME passes (parquet.encryption.key.access.token); the master key
 *    identifier is a key name, "name/version", or a full key URL. Wrapped key = Base64 of the RSA ciphertext.
 */
class PpmlKmsClient extends KmsClient {
  private var backend: PpmlKmsClient.Backend = _

  override def initialize(conf: Configuration, kmsInstanceID: String, kmsInstanceURL: String, accessToken: String): Unit = {
    backend =
      if (kmsInstanceID != null && kmsInstanceID.equalsIgnoreCase("local")) {
        val path = conf.get(ConfNames.LocalPrimaryKeyPath)
        if (path == null) throw new KeyAccessDeniedException(s"kms local needs ${ConfNames.LocalPrimaryKeyPath} (primary key file path)")
        new PpmlKmsClient.Local(path)
      } else {
        if (kmsInstanceURL == null || kmsInstanceURL == KmsClient.KMS_INSTANCE_URL_DEFAULT)
          throw new KeyAccessDeniedException("Azure Key Vault needs parquet.encryption.kms.instance.url (the vault URL)")
        new PpmlKmsClient.Azure(kmsInstanceURL.stripSuffix("/"), accessToken)
      }
  }

  override def wrapKey(keyBytes: Array[Byte], masterKeyIdentifier: String): String = backend.wrap(keyBytes, masterKeyIdentifier)
  override def unwrapKey(wrappedKey: String, masterKeyIdentifier: String): Array[Byte] = backend.unwrap(wrappedKey, masterKeyIdentifier)
}

object PpmlKmsClient {
  trait Backend {
    def wrap(key: Array[Byte], master: String): String
    def unwrap(wrapped: String, master: String): Array[Byte]
  }

  final class Local(path: String) extends Backend {
    private val primary =
      try Files.readAllBytes(Paths.get(path))
      catch { case e: java.io.IOException => throw new KeyAccessDeniedException(s"$path: cannot read primary key file (${e.getClass.getSimpleName})") }
    if (primary.length != 32) throw new KeyAccessDeniedException(s"$path: a local primary key file holds exactly 32 bytes")
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
      val blob = Base64.getDecoder.decode(wrapped)
      try cipher(Cipher.DECRYPT_MODE, blob.take(12)).doFinal(blob, 12, blob.length - 12)
      catch {
        case _: java.security.GeneralSecurityException =>
          throw new KeyAccessDeniedException(s"data key does not unwrap with primary key $path (wrong key?)")
      }
    }
  }

  final class Azure(vaultUrl: String, token: String) extends Backend {
    private val http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(30)).build()
    private val mapper = new ObjectMapper()
    private val b64url = Base64.getUrlEncoder.withoutPadding()

    private def keyUrl(master: String): String =
      if (master.startsWith("https://") || master.startsWith("http://")) master.stripSuffix("/")
      else s"$vaultUrl/keys/$master"

    private def call(master: String, op: String, value: Array[Byte]): Array[Byte] = {
      if (token == null || token.isEmpty || token == KmsClient.KEY_ACCESS_TOKEN_DEFAULT)
        throw new KeyAccessDeniedException("Azure Key Vault needs an access token (parquet.encryption.key.access.token)")
      val body = mapper.createObjectNode().put("alg", "RSA-OAEP-256").put("value", b64url.encodeToString(value))
      val request = HttpRequest.newBuilder(URI.create(s"${keyUrl(master)}/$op?api-version=7.4"))
        .timeout(Duration.ofSeconds(60))
        .header("Authorization", "Bearer " + token)
        .header("Content-Type", "application/json")
        .POST(HttpRequest.BodyPublishers.ofString(mapper.writeValueAsString(body)))
        .build()
      var attempt = 0
      while (true) {
        val response = http.send(request, HttpResponse.BodyHandlers.ofString())
        val status = response.statusCode()
        if (status == 200) return Base64.getUrlDecoder.decode(mapper.readTree(response.body()).get("value").asText())
        attempt += 1
        if ((status == 429 || status >= 500) && attempt < 5) {
          val retryAfter = response.headers().firstValue("Retry-After").map[Long](s => s.trim.toLong).orElse(1L)
          Thread.sleep(math.min(retryAfter, 10L) * 1000L)
        } else {
          // The body is Key Vault's error object (code and message); it holds no key material.
          val detail = scala.util.Try(mapper.readTree(response.body()).path("error").path("message").asText("")).getOrElse("")
          throw new KeyAccessDeniedException(s"Key Vault $op on ${keyUrl(master)} failed: HTTP $status $detail".trim)
        }
      }
      throw new IllegalStateException("unreachable")
    }

    def wrap(key: Array[Byte], master: String): String = Base64.getEncoder.encodeToString(call(master, "wrapkey", key))
    def unwrap(wrapped: String, master: String): Array[Byte] = call(master, "unwrapkey", Base64.getDecoder.decode(wrapped))
  }
}
