package bigdlppmlaz

import java.io.ByteArrayInputStream
import java.math.BigInteger
import java.net.URI
import java.net.http.{HttpClient, HttpRequest, HttpResponse}
import java.nio.ByteBuffer
import java.nio.channels.FileChannel
import java.nio.charset.StandardCharsets.UTF_8
import java.nio.file.{Files, Paths, StandardOpenOption}
import java.security.{KeyFactory, KeyPairGenerator, KeyStore, MessageDigest, PrivateKey, PublicKey, SecureRandom, Signature}
import java.security.cert.{CertificateFactory, X509Certificate}
import java.security.interfaces.{RSAPrivateCrtKey, RSAPublicKey}
import java.security.spec.{MGF1ParameterSpec, PKCS8EncodedKeySpec, RSAPublicKeySpec}
import java.time.Duration
import java.util.{Arrays => JArrays, Base64, Locale}
import java.util.concurrent.ConcurrentHashMap
import javax.crypto.Cipher
import javax.crypto.spec.{OAEPParameterSpec, PSource, SecretKeySpec}
import javax.net.ssl.{SSLContext, TrustManagerFactory}

import scala.jdk.CollectionConverters._

import com.fasterxml.jackson.databind.{JsonNode, ObjectMapper}
import org.apache.hadoop.conf.Configuration

/** kms=azure-skr inside the executor JVM: Azure Secure Key Release, the worker side of
 * bigdl_ppml_az.kms.azure_skr (same protocol, same checks, same option names, same error texts).
 *
 * The driver cannot unwrap an SKR-protected data key (the primary key is released only to attested workers), so
 * for azure-skr bigdl_ppml_az.jvm.prepare_read puts the *wrapped* data keys (public: they are in the files'
 * headers) and the backend's options in the Hadoop configuration:
 *  - fs.ppml.skr.wrapped.<gcm.ref | cbc.ref | native>: {"kid": key id, "alg": RSA-OAEP | RSA-OAEP-256, "value": base64}
 *  - fs.ppml.skr.<option>: vaultUrl, attestation, attestationDevice, maaEndpoint, maaCaBundle, sidecarEndpoint,
 *    attestationTimeout, releaseTrustRoots, releaseAlgorithm, runtimeKeySize, connectionVerify, kmsRetryTotal,
 *    kmsTimeout (the Python option names)
 *  - fs.ppml.skr.access.token: a Key Vault bearer token the driver obtained with the configured credential
 *    ("token" in the name: Spark's default redaction regex hides it).
 * Once per executor process and key (until 30 s before the attestation token's exp) an executor generates an
 * RSA runtime key, gets an MAA token binding it (Gramine /dev/attestation, the SKR sidecar, or none for the
 * emulator when the key's policy admits it), calls Key Vault `release`, verifies the signed response (x5c chain
 * to the trusted roots, CA constraints, key usage, the vault's host name, RS256, the key it names, the runtime
 * key it is wrapped to), unwraps key_hsm (RSA-OAEP + AES key wrap with padding, RFC 5649) and then the data keys.
 * Nothing here logs; errors name keys and hosts, never key bytes.
 *
 * Hand-written on the JDK (java.net.http, javax.crypto, java.security.cert) and the Jackson in Spark's jars:
 * the shim must build with pyspark's jars alone, without network or extra dependencies.
 */
object Skr {
  val Prefix = "fs.ppml.skr."
  val WrappedPrefix = "fs.ppml.skr.wrapped."
  val AccessToken = "fs.ppml.skr.access.token"
  val MaaApiVersion = "2022-08-01"
  val KvApiVersion = "7.4"
  val MaxResponse: Int = 1024 * 1024
  val MaxQuote: Int = 64 * 1024
  val MaxToken: Int = 256 * 1024
  private val MinLifetimeMillis = 30000L
  private val ReleaseHashes = Map("RSA_AES_KEY_WRAP_256" -> "SHA-256", "RSA_AES_KEY_WRAP_384" -> "SHA-384",
    "CKM_RSA_AES_KEY_WRAP" -> "SHA-1")
  private val WrapHashes = Map("RSA-OAEP-256" -> "SHA-256", "RSA-OAEP" -> "SHA-1")
  private[bigdlppmlaz] val mapper = new ObjectMapper()
  private val random = new SecureRandom()

  /** Counts of this JVM's calls (tests read them through py4j). */
  @volatile var releaseCalls = 0
  @volatile var attestationCalls = 0
  /** Milliseconds the last release took, from runtime key generation to the unwrapped key (measurement). */
  @volatile var lastReleaseMillis = 0L
  /** Where the last release's time went: runtime key generation, evidence + MAA, the release call, checks + unwrap. */
  @volatile var lastReleasePhases = ""

  def b64url(data: Array[Byte]): String = Base64.getUrlEncoder.withoutPadding().encodeToString(data)
  def unb64url(text: String, what: String): Array[Byte] =
    try Base64.getUrlDecoder.decode(text.trim.replace("=", "")) catch {
      case _: IllegalArgumentException => throw new SkrException(s"$what is not base64url")
    }
  private def unsigned(v: BigInteger): Array[Byte] = {
    val raw = v.toByteArray
    val skip = raw.indexWhere(_ != 0)
    if (skip <= 0) raw else raw.drop(skip)
  }

  // ---- settings --------------------------------------------------------------------------------------------
  /** The backend's options as the driver set them; `identity` is what decides which keys it can unwrap. */
  final case class Settings(
      vaultUrl: String,
      attestation: String,
      device: String,
      maa: String,
      maaCa: Option[String],
      sidecar: String,
      timeoutSeconds: Long,
      trustRoots: Option[String],
      connectionVerify: Option[String],
      releaseAlgorithm: String,
      runtimeBits: Int,
      retryTotal: Int,
      kvTimeoutSeconds: Long) {
    def identity: String =
      Seq("azure-skr", vaultUrl, attestation, device, maa, sidecar, releaseAlgorithm, trustRoots.getOrElse("")).mkString("|")
  }

  def option(conf: Configuration, name: String): Option[String] =
    Option(if (conf == null) null else conf.get(Prefix + name)).map(_.trim).filter(_.nonEmpty)

  private def maaUrl(value: Option[String]): String = {
    val text = value.getOrElse(throw new SkrConfigException(
      "option maaEndpoint is required: the https URL of your Azure Attestation provider")).stripSuffix("/")
    val withScheme = if (text.contains("://")) text else "https://" + text
    if (!withScheme.toLowerCase(Locale.ROOT).startsWith("https://"))
      throw new SkrConfigException(s"option maaEndpoint=$text: must be an https URL")
    withScheme
  }

  private val ProviderAliases = Map("sgx-gramine" -> "sgx-gramine", "gramine" -> "sgx-gramine", "sgx" -> "sgx-gramine",
    "sevsnp-sidecar" -> "sevsnp-sidecar", "sevsnp" -> "sevsnp-sidecar", "skr-sidecar" -> "sevsnp-sidecar",
    "none" -> "none", "dev" -> "none")

  def settings(conf: Configuration): Settings = {
    val vault = option(conf, "vaultUrl").getOrElse(throw new SkrConfigException(
      "kms=azure-skr on the JVM path: no vault in the Hadoop configuration (fs.ppml.skr.vaultUrl); call " +
        "bigdl_ppml_az.jvm.prepare_read (or jvm.pme.configure_session) with the kms options on the driver"))
    // Writers need no evidence: a missing attestation option is refused only when a key must be released.
    val provider = option(conf, "attestation").map { name =>
      ProviderAliases.getOrElse(name.toLowerCase(Locale.ROOT), throw new SkrConfigException(
        s"option attestation=$name: unknown evidence provider; use one of none, sevsnp-sidecar, sgx-gramine"))
    }.getOrElse("")
    val algorithm = option(conf, "releaseAlgorithm").map(_.toUpperCase(Locale.ROOT)).getOrElse("RSA_AES_KEY_WRAP_256")
    if (!ReleaseHashes.contains(algorithm))
      throw new SkrConfigException(s"option releaseAlgorithm=$algorithm: use one of ${ReleaseHashes.keys.toSeq.sorted.mkString(", ")}")
    val bits = option(conf, "runtimeKeySize").getOrElse("2048")
    if (!Set("2048", "3072", "4096").contains(bits))
      throw new SkrConfigException(s"option runtimeKeySize=$bits: use 2048, 3072 or 4096")
    def seconds(name: String, default: Long): Long = option(conf, name).map { v =>
      scala.util.Try(math.ceil(v.toDouble).toLong).filter(_ > 0).getOrElse(
        throw new SkrConfigException(s"option $name=$v: expected a positive number of seconds"))
    }.getOrElse(default)
    val sidecar = option(conf, "sidecarEndpoint").getOrElse("http://localhost:8080").stripSuffix("/")
    if (provider == "sevsnp-sidecar") {
      val uri = scala.util.Try(URI.create(sidecar)).toOption
      val host = uri.flatMap(u => Option(u.getHost)).getOrElse("").stripPrefix("[").stripSuffix("]")
      if (!uri.exists(_.getScheme == "http") || !Set("localhost", "127.0.0.1", "::1").contains(host))
        throw new SkrConfigException(
          s"option sidecarEndpoint=$sidecar: the SKR sidecar must be http on localhost (same pod / group)")
    }
    val connectionVerify = option(conf, "connectionVerify")
    Settings(
      vaultUrl = PpmlKmsClient.vaultOrigin(vault),
      attestation = provider,
      device = option(conf, "attestationDevice").getOrElse("/dev/attestation"),
      maa = if (provider == "none" || provider.isEmpty) "" else maaUrl(option(conf, "maaEndpoint")),
      maaCa = option(conf, "maaCaBundle").orElse(connectionVerify),
      sidecar = sidecar,
      timeoutSeconds = seconds("attestationTimeout", 30),
      trustRoots = option(conf, "releaseTrustRoots").orElse(connectionVerify),
      connectionVerify = connectionVerify,
      releaseAlgorithm = algorithm,
      runtimeBits = bits.toInt,
      retryTotal = option(conf, "kmsRetryTotal").flatMap(v => scala.util.Try(v.toDouble.toInt).toOption).getOrElse(10).max(0),
      kvTimeoutSeconds = seconds("kmsTimeout", 60))
  }

  // ---- data keys (codec path) ------------------------------------------------------------------------------
  private final class CachedKey(val material: Array[Byte], val expiresAt: Long)
  private val dataKeys = new ConcurrentHashMap[String, CachedKey]()

  /** Key bytes for a codec key name (fs.ppml.secret.key.<suffix>) when the driver registered a wrapped SKR key
   * under fs.ppml.skr.wrapped.<suffix>; None when it did not. gcm: the data key; cbc/native: BigDL's data key
   * string (Base64 of the data key), as the driver registers them for the other KMS types.
   */
  def lookup(conf: Configuration, keyName: String): Option[Array[Byte]] = {
    if (conf == null) return None
    val suffix = keyName.stripPrefix(ConfNames.KeyPrefix)
    val spec = conf.get(WrappedPrefix + suffix)
    if (spec == null || spec.isEmpty) return None
    val settings = this.settings(conf)
    val slot = settings.identity + "|" + suffix + "|" + Bytes.ref(spec.getBytes(UTF_8))
    val hit = dataKeys.get(slot)
    if (hit != null && hit.expiresAt > System.currentTimeMillis()) return Some(hit.material.clone())
    val node = scala.util.Try(mapper.readTree(spec)).toOption.filter(_.isObject).getOrElse(
      throw new SkrException(s"$WrappedPrefix$suffix is not a wrapped-key record (set it with bigdl_ppml_az.jvm.prepare_read)"))
    val keyId = node.path("kid").asText("")
    val algorithm = node.path("alg").asText("RSA-OAEP")
    val wrapped = try Base64.getDecoder.decode(node.path("value").asText("")) catch {
      case _: IllegalArgumentException => throw new SkrException(s"$WrappedPrefix$suffix: wrapped key is not Base64")
    }
    val token = Option(conf.get(AccessToken)).getOrElse("")
    val released = releasedKey(settings, keyId, token)
    val material = unwrapDataKey(released, wrapped, algorithm)
    val out = if (suffix.startsWith("gcm.")) material else {
      val text = Base64.getEncoder.encodeToString(material).getBytes(UTF_8)
      JArrays.fill(material, 0.toByte)
      text
    }
    dataKeys.put(slot, new CachedKey(out, released.expiresAt - MinLifetimeMillis))
    Some(out.clone())
  }

  def unwrapDataKey(released: Released, wrapped: Array[Byte], algorithm: String): Array[Byte] = {
    val hash = WrapHashes.getOrElse(algorithm, throw new WrongKeyException(
      s"unsupported wrap algorithm '$algorithm' for kms=azure-skr"))
    try oaep(Cipher.DECRYPT_MODE, released.privateKey, hash).doFinal(wrapped)
    catch {
      case _: java.security.GeneralSecurityException =>
        throw new WrongKeyException(s"released key ${released.keyId} could not unwrap this data key: wrong key or " +
          "algorithm, or the wrapped key is damaged")
    }
  }

  private[bigdlppmlaz] def oaep(mode: Int, key: java.security.Key, hash: String): Cipher = {
    val cipher = Cipher.getInstance("RSA/ECB/OAEPPadding")
    cipher.init(mode, key, new OAEPParameterSpec(hash, "MGF1", new MGF1ParameterSpec(hash), PSource.PSpecified.DEFAULT))
    cipher
  }

  // ---- released keys ---------------------------------------------------------------------------------------
  /** A released private key and when it must be forgotten; never printed. */
  final class Released(val keyId: String, val privateKey: PrivateKey, val expiresAt: Long) {
    override def toString: String = s"<released key $keyId>"
  }
  private val released = new ConcurrentHashMap[String, Released]()
  private val slotLocks = new ConcurrentHashMap[String, Object]()

  /** Forget every released key and data key of this JVM (tests, measurements). */
  def forget(): Unit = { released.clear(); dataKeys.clear() }

  /** The released key for `recordedKeyId` (a key URL inside the configured vault), once per process and key. */
  def releasedKey(settings: Settings, recordedKeyId: String, token: String): Released = {
    val keyUrl = keyIdInVault(settings.vaultUrl, recordedKeyId)
    val slot = settings.identity + "|" + keyUrl
    def fresh(r: Released) = r != null && r.expiresAt - MinLifetimeMillis > System.currentTimeMillis()
    val hit = released.get(slot)
    if (fresh(hit)) return hit
    val lock = slotLocks.computeIfAbsent(slot, _ => new Object)
    lock.synchronized { // one release per slot at a time: concurrent tasks wait for the first
      val again = released.get(slot)
      if (fresh(again)) return again
      released.remove(slot)
      val started = System.nanoTime()
      val result = new Release(settings, token).release(keyUrl)
      lastReleaseMillis = (System.nanoTime() - started) / 1000000L
      released.put(slot, result)
      // Test and measurement hook, as the Python worker's: pid, key id and milliseconds only.
      Option(System.getenv("PPML_AZ_SKR_CALL_LOG")).filter(_.nonEmpty).foreach { log =>
        Files.write(Paths.get(log), s"${ProcessHandle.current().pid()} release ${result.keyId} jvm $lastReleaseMillis $lastReleasePhases\n".getBytes(UTF_8),
          StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE)
      }
      result
    }
  }

  /** A recorded key id (untrusted: it comes from a file's header) as a key URL of the configured vault. */
  def keyIdInVault(vault: String, recorded: String): String = {
    if (recorded == null || recorded.trim.isEmpty)
      throw new WrongKeyException("the data key names no Key Vault key; read it with the kms that wrote it")
    try PpmlKmsClient.pinnedKeyUrl(vault, recorded.trim)
    catch {
      case _: org.apache.parquet.crypto.KeyAccessDeniedException =>
        throw new WrongKeyException(s"data key was wrapped by key $recorded, which is not in the configured vault " +
          s"$vault; set option vault to that key's vault")
    }
  }

  /** (vault origin, name, version) of a Key Vault key URL. */
  def parseKeyId(url: String): Option[(String, String, String)] = scala.util.Try {
    val uri = URI.create(url.trim)
    val parts = Option(uri.getRawPath).getOrElse("").stripSuffix("/").split("/").toSeq
    if (uri.getScheme == null || !uri.getScheme.equalsIgnoreCase("https") || uri.getHost == null) None
    else parts match {
      case Seq("", "keys", name) => Some((PpmlKmsClient.vaultOrigin(url), name, ""))
      case Seq("", "keys", name, version) => Some((PpmlKmsClient.vaultOrigin(url), name, version))
      case _ => None
    }
  }.toOption.flatten

  def sameKeyId(a: String, b: String): Boolean = (parseKeyId(a), parseKeyId(b)) match {
    case (Some((va, na, xa)), Some((vb, nb, xb))) =>
      def origin(v: String) = v.stripSuffix(":443")
      origin(va) == origin(vb) && na == nb && xa == xb
    case _ => false
  }

  // ---- HTTP ------------------------------------------------------------------------------------------------
  private val contexts = new ConcurrentHashMap[String, SSLContext]()
  private val clients = new ConcurrentHashMap[String, HttpClient]()

  def sslContext(bundle: Option[String]): SSLContext = bundle match {
    case None => SSLContext.getDefault
    case Some(path) => contexts.computeIfAbsent(path, p => {
      val certs = try loadPem(p) catch {
        case e: Exception => throw new SkrConfigException(s"CA bundle $p: cannot load PEM certificates (${e.getClass.getSimpleName})")
      }
      val store = KeyStore.getInstance(KeyStore.getDefaultType)
      store.load(null, null)
      certs.zipWithIndex.foreach { case (c, i) => store.setCertificateEntry(s"ca$i", c) }
      val tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm)
      tmf.init(store)
      val ctx = SSLContext.getInstance("TLS")
      ctx.init(null, tmf.getTrustManagers, null)
      ctx
    })
  }

  def loadPem(path: String): Seq[X509Certificate] = {
    val p = Paths.get(path)
    if (!Files.isRegularFile(p) || Files.size(p) > 8L * 1024 * 1024) throw new java.io.IOException(s"$path: not a PEM bundle")
    val certs = CertificateFactory.getInstance("X.509").generateCertificates(new ByteArrayInputStream(Files.readAllBytes(p)))
      .asScala.toSeq.collect { case c: X509Certificate => c }
    if (certs.isEmpty) throw new java.io.IOException(s"$path: no PEM certificates")
    certs
  }

  private def origin(url: String): String = scala.util.Try {
    val u = URI.create(url); s"${u.getScheme}://${u.getRawAuthority}"
  }.getOrElse("?")

  /** The service's error message from a JSON error body (no key material there), at most 300 characters. */
  def errorDetail(body: String): String = {
    val text = Option(body).getOrElse("")
    val detail = scala.util.Try(mapper.readTree(text)).toOption.map { node =>
      val err = node.path("error")
      if (err.isObject) Option(err.path("message").asText(null)).filter(_.nonEmpty).getOrElse(err.path("code").asText(err.toString))
      else if (err.isTextual) err.asText()
      else node.toString
    }.getOrElse(text.trim)
    val line = detail.linesIterator.toSeq.headOption.getOrElse("")
    if (line.isEmpty) "no detail" else line.take(300)
  }

  final case class Answer(status: Int, body: String, retryAfter: String)

  /** One bounded exchange; `body` None is a GET. Transport failures name the endpoint, never the body. */
  def exchange(url: String, body: Option[String], headers: Seq[(String, String)], ca: Option[String],
      timeoutSeconds: Long, what: String): Answer = {
    val https = url.startsWith("https://")
    // One client (connection pool, TLS sessions) per trust store and timeout, kept for the process: a release makes
    // two or three calls to the same hosts, and a JVM's first TLS handshakes are its slowest.
    val client = clients.computeIfAbsent(s"$https|${ca.getOrElse("")}|$timeoutSeconds", _ => {
      val builder = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(timeoutSeconds))
      if (https) builder.sslContext(sslContext(ca))
      builder.build()
    })
    val request = HttpRequest.newBuilder(URI.create(url)).timeout(Duration.ofSeconds(timeoutSeconds))
      .header("Accept", "application/json")
    headers.foreach { case (k, v) => request.header(k, v) }
    body match {
      case Some(text) => request.header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(text))
      case None => request.GET()
    }
    val response = try client.send(request.build(), HttpResponse.BodyHandlers.ofInputStream())
    catch {
      case e: java.io.IOException =>
        throw new SkrTransientException(s"cannot reach $what at ${origin(url)}: ${e.getClass.getSimpleName}" +
          Option(e.getMessage).map(m => s" (${m.take(200)})").getOrElse(""))
      case _: InterruptedException =>
        Thread.currentThread().interrupt()
        throw new SkrException(s"interrupted while calling $what at ${origin(url)}")
    }
    val in = response.body()
    val raw = try in.readNBytes(MaxResponse + 1) finally in.close()
    if (raw.length > MaxResponse) throw new SkrException(s"$what at ${origin(url)}: response larger than $MaxResponse bytes")
    Answer(response.statusCode(), new String(raw, UTF_8), response.headers().firstValue("Retry-After").orElse(""))
  }

  /** POST/GET JSON, 200 expected; errors name the endpoint and the service's message. */
  def httpJson(url: String, body: Option[String], ca: Option[String], timeoutSeconds: Long, what: String): JsonNode = {
    val answer = exchange(url, body, Nil, ca, timeoutSeconds, what)
    if (answer.status != 200)
      throw new SkrException(s"$what at ${origin(url)} failed with HTTP ${answer.status}: ${errorDetail(answer.body)}")
    val node = scala.util.Try(mapper.readTree(answer.body)).toOption.getOrElse(
      throw new SkrException(s"$what at ${origin(url)}: response is not JSON"))
    if (node == null || !node.isObject) throw new SkrException(s"$what at ${origin(url)}: response is not a JSON object")
    node
  }

  // ---- runtime key and evidence ----------------------------------------------------------------------------
  final class Runtime(val privateKey: PrivateKey, val kid: String, val n: String, val e: String, val data: Array[Byte],
      val modulusBytes: Int)

  def runtimeKey(bits: Int): Runtime = {
    val generator = KeyPairGenerator.getInstance("RSA")
    generator.initialize(bits, random)
    val pair = generator.generateKeyPair()
    val pub = pair.getPublic.asInstanceOf[RSAPublicKey]
    val n = b64url(unsigned(pub.getModulus))
    val e = b64url(unsigned(pub.getPublicExponent))
    // RFC 7638 thumbprint as the kid; the key set is compact JSON with sorted keys, as the Python worker makes it.
    val kid = b64url(MessageDigest.getInstance("SHA-256").digest(s"""{"e":"$e","kty":"RSA","n":"$n"}""".getBytes(UTF_8)))
    val data = s"""{"keys":[{"e":"$e","key_ops":["encrypt"],"kid":"$kid","kty":"RSA","n":"$n"}]}""".getBytes(UTF_8)
    new Runtime(pair.getPrivate, kid, n, e, data, (pub.getModulus.bitLength + 7) / 8)
  }

  private val deviceLock = new Object

  /** Gramine: write SHA-256(runtime data) || 32 zero bytes to user_report_data, read the quote for it. */
  def gramineQuote(device: String, runtimeData: Array[Byte]): Array[Byte] = {
    val report = Paths.get(device, "user_report_data")
    val quotePath = Paths.get(device, "quote")
    if (!Files.exists(report))
      throw new SkrException(s"option attestation=sgx-gramine: $report not found; run inside a Gramine SGX enclave " +
        "with sgx.remote_attestation = \"dcap\" (or set attestationDevice)")
    val reportData = MessageDigest.getInstance("SHA-256").digest(runtimeData) ++ new Array[Byte](32)
    deviceLock.synchronized { // one report-data/quote exchange at a time (per JVM; a file lock across processes)
      val channel = FileChannel.open(report, StandardOpenOption.WRITE)
      try {
        try channel.lock() catch { case _: java.io.IOException | _: java.nio.channels.OverlappingFileLockException => }
        val buffer = ByteBuffer.wrap(reportData)
        while (buffer.hasRemaining) channel.write(buffer)
        val in = Files.newInputStream(quotePath)
        val quote = try in.readNBytes(MaxQuote + 1) finally in.close()
        if (quote.isEmpty || quote.length > MaxQuote)
          throw new SkrException(s"$quotePath: no quote (or larger than $MaxQuote bytes)")
        quote
      } finally channel.close()
    }
  }

  private def tokenFrom(node: JsonNode, what: String): String = {
    val token = node.path("token").asText("")
    if (token.count(_ == '.') != 2) throw new SkrException(s"$what answered without an attestation token")
    token
  }

  def attestationToken(s: Settings, runtime: Runtime): String = s.attestation match {
    case "sgx-gramine" =>
      val quote = gramineQuote(s.device, runtime.data)
      val body = mapper.createObjectNode()
      body.put("quote", b64url(quote))
      body.putObject("runtimeData").put("data", b64url(runtime.data)).put("dataType", "JSON")
      val url = s"${s.maa}/attest/SgxEnclave?api-version=$MaaApiVersion"
      tokenFrom(httpJson(url, Some(mapper.writeValueAsString(body)), s.maaCa, s.timeoutSeconds, "MAA"), "MAA")
    case "sevsnp-sidecar" =>
      val body = mapper.createObjectNode()
        .put("maa_endpoint", URI.create(s.maa).getRawAuthority)
        .put("runtime_data", Base64.getEncoder.encodeToString(runtime.data))
      tokenFrom(httpJson(s"${s.sidecar}/attest/maa", Some(mapper.writeValueAsString(body)), None, s.timeoutSeconds,
        "SKR sidecar"), "SKR sidecar")
    case _ => // none: unsigned development token; only an emulator policy naming the authority "none" admits it
      val now = System.currentTimeMillis() / 1000
      val claims = mapper.createObjectNode().put("iss", "none").put("iat", now).put("nbf", now).put("exp", now + 3600)
        .put("x-ms-attestation-type", "none")
      claims.set[JsonNode]("x-ms-runtime", mapper.readTree(runtime.data))
      s"${b64url("""{"alg":"none","typ":"JWT"}""".getBytes(UTF_8))}.${b64url(mapper.writeValueAsBytes(claims))}."
  }

  // ---- JOSE ------------------------------------------------------------------------------------------------
  final class Jws(val header: JsonNode, val payload: JsonNode, val signingInput: Array[Byte], val signature: Array[Byte])

  def parseJws(token: String, what: String): Jws = {
    if (token == null || token.length > MaxToken)
      throw new SkrJoseException(s"$what is not a compact JWS of at most $MaxToken characters")
    val parts = token.trim.split("\\.", -1)
    if (parts.length != 3) throw new SkrJoseException(s"$what is not a compact JWS (expected 3 dot-separated parts)")
    val (header, payload) = try (mapper.readTree(unb64url(parts(0), what)), mapper.readTree(unb64url(parts(1), what)))
    catch { case _: Exception => throw new SkrJoseException(s"$what: header or payload is not base64url JSON") }
    if (header == null || payload == null || !header.isObject || !payload.isObject)
      throw new SkrJoseException(s"$what: header and payload must be JSON objects")
    val signature = try unb64url(parts(2), what) catch { case _: SkrException => throw new SkrJoseException(s"$what: signature is not base64url") }
    new Jws(header, payload, s"${parts(0)}.${parts(1)}".getBytes(UTF_8), signature)
  }

  def verifyRs256(jws: Jws, key: PublicKey, what: String): Unit = {
    val alg = jws.header.path("alg").asText("")
    if (alg != "RS256") throw new SkrJoseException(s"$what: signature algorithm '$alg' is not RS256")
    val ok = try {
      val verifier = Signature.getInstance("SHA256withRSA")
      verifier.initVerify(key)
      verifier.update(jws.signingInput)
      verifier.verify(jws.signature)
    } catch { case _: java.security.GeneralSecurityException => false }
    if (!ok) throw new SkrJoseException(s"$what: signature does not verify")
  }

  def rsaPublicFromJwk(jwk: JsonNode): PublicKey = {
    val kty = jwk.path("kty").asText("")
    if (kty != "RSA" && kty != "RSA-HSM") throw new SkrJoseException("JWK is not an RSA key")
    val n = jwk.path("n").asText(""); val e = jwk.path("e").asText("")
    if (n.isEmpty || e.isEmpty) throw new SkrJoseException("JWK has no valid RSA n/e")
    KeyFactory.getInstance("RSA").generatePublic(new RSAPublicKeySpec(
      new BigInteger(1, unb64url(n, "JWK n")), new BigInteger(1, unb64url(e, "JWK e"))))
  }

  private def certificate(b64: String, what: String): X509Certificate = try {
    CertificateFactory.getInstance("X.509").generateCertificate(new ByteArrayInputStream(Base64.getDecoder.decode(b64)))
      .asInstanceOf[X509Certificate]
  } catch { case _: Exception => throw new SkrJoseException(s"$what: x5c holds a certificate that is not base64 DER") }

  /** A JWKS key's public key as MAA's /certs serves it: the x5c leaf's key (MAA lists {kid, kty, x5c}, no n/e);
   * n/e, when present too, must be that same key; without x5c, the key of n/e. */
  def jwksPublicKey(jwk: JsonNode): PublicKey = {
    val kid = if (jwk.hasNonNull("kid")) s"'${jwk.path("kid").asText("")}'" else "None"
    if (jwk.path("kty").asText("") != "RSA") throw new SkrJoseException(s"JWKS key $kid is not an RSA key")
    val x5c = jwk.get("x5c")
    if (x5c == null) return rsaPublicFromJwk(jwk)
    if (!x5c.isArray || x5c.size == 0 || !x5c.get(0).isTextual)
      throw new SkrJoseException(s"JWKS key $kid: x5c is not a list of certificates")
    val cert = try CertificateFactory.getInstance("X.509").generateCertificate(
      new ByteArrayInputStream(Base64.getDecoder.decode(x5c.get(0).asText()))).asInstanceOf[X509Certificate]
    catch { case _: Exception => throw new SkrJoseException(s"JWKS key $kid: x5c[0] is not a base64 DER certificate") }
    val key = cert.getPublicKey match {
      case r: RSAPublicKey => r
      case _ => throw new SkrJoseException(s"JWKS key $kid: x5c certificate does not hold an RSA key")
    }
    if (jwk.has("n") || jwk.has("e")) {
      val same = scala.util.Try(rsaPublicFromJwk(jwk).asInstanceOf[RSAPublicKey]).toOption
        .exists(p => p.getModulus == key.getModulus && p.getPublicExponent == key.getPublicExponent)
      if (!same) throw new SkrJoseException(s"JWKS key $kid: n/e do not match its x5c certificate")
    }
    key
  }

  private def subject(c: X509Certificate): String = Option(c.getSubjectX500Principal.getName).filter(_.nonEmpty).getOrElse("(empty subject)")

  /** (does the certificate name `host`?, the names it holds) by RFC 6125, as _jose.host_matches: subjectAltName
   * only (no CN); an IP host must be an IP address entry; a DNS pattern matches case-insensitively, exactly, or
   * with `*` as the whole left-most label standing for one non-empty label, and only with >= 2 labels after it. */
  def hostMatches(cert: X509Certificate, host: String): (Boolean, Seq[String]) = {
    val entries = Option(cert.getSubjectAlternativeNames).map(_.asScala.toSeq).getOrElse(Nil)
    val dns = entries.filter(_.get(0) == Integer.valueOf(2)).map(e => String.valueOf(e.get(1)).toLowerCase(Locale.ROOT).stripSuffix("."))
    val ips = entries.filter(_.get(0) == Integer.valueOf(7)).map(e => String.valueOf(e.get(1)))
    val names = dns ++ ips
    val target = host.toLowerCase(Locale.ROOT).stripSuffix(".")
    val bare = target.stripPrefix("[").stripSuffix("]")
    val literal = bare.nonEmpty && (bare.contains(':') || bare.forall(c => c.isDigit || c == '.')) &&
      scala.util.Try(java.net.InetAddress.getByName(bare)).isSuccess
    if (literal) {
      val address = java.net.InetAddress.getByName(bare)
      return (ips.exists(ip => scala.util.Try(java.net.InetAddress.getByName(ip) == address).getOrElse(false)), names)
    }
    val labels = target.split("\\.", -1).toSeq
    val ok = dns.exists { pattern =>
      val parts = pattern.split("\\.", -1).toSeq
      pattern == target || (parts.head == "*" && parts.length >= 3 && parts.length == labels.length &&
        !parts.tail.mkString(".").contains("*") && labels.head.nonEmpty && parts.tail == labels.tail)
    }
    (ok, names)
  }

  private def isoDate(d: java.util.Date): String = java.time.LocalDate.ofInstant(d.toInstant, java.time.ZoneOffset.UTC).toString

  /** `parent` signed `child` and may issue certificates (a CA, with `below` CA certificates under it). */
  private def checkIssued(child: X509Certificate, parent: X509Certificate, below: Int, what: String): Unit = {
    val signed = child.getIssuerX500Principal == parent.getSubjectX500Principal &&
      scala.util.Try(child.verify(parent.getPublicKey)).isSuccess
    if (!signed)
      throw new SkrJoseException(s"$what: x5c is not a chain (certificate ${subject(child)} is not signed by ${subject(parent)})")
    val pathLength = parent.getBasicConstraints // -1: not a CA (or no basic constraints); MAX_VALUE: no limit
    if (pathLength < 0)
      throw new SkrJoseException(s"$what: issuer ${subject(parent)} of ${subject(child)} is not a CA (basic constraints)")
    if (below > pathLength)
      throw new SkrJoseException(s"$what: issuer ${subject(parent)} allows $pathLength intermediate CAs below it, not " +
        s"$below (path length)")
    parent.getPublicKey match { // the Web PKI profile the Python worker's verifier applies: no weak CA keys
      case r: RSAPublicKey if r.getModulus.bitLength < 2048 =>
        throw new SkrJoseException(s"$what: signing chain of ${subject(child)} refused by the X.509 verifier: issuer " +
          s"${subject(parent)} has a ${r.getModulus.bitLength}-bit RSA key (at least 2048 required)")
      case _ =>
    }
  }

  /** RFC 5280 path validation by the JDK (PKIX, no revocation) on top of the explicit checks: name constraints,
   * unknown critical extensions and whatever else the profile requires, as the Python worker's X.509 verifier. */
  private def pkixValidate(chain: Seq[X509Certificate], roots: Seq[X509Certificate], what: String): Unit = {
    val path = if (roots.contains(chain.last)) chain.dropRight(1) else chain
    if (path.isEmpty) return
    try {
      val anchors = roots.map(r => new java.security.cert.TrustAnchor(r, null)).toSet.asJava
      val params = new java.security.cert.PKIXParameters(anchors)
      params.setRevocationEnabled(false)
      params.setDate(new java.util.Date())
      val certPath = CertificateFactory.getInstance("X.509").generateCertPath(path.asJava)
      java.security.cert.CertPathValidator.getInstance("PKIX").validate(certPath, params)
    } catch {
      case e: java.security.GeneralSecurityException =>
        val reason = Option(e.getMessage).map(_.linesIterator.toSeq.headOption.getOrElse("").take(200)).getOrElse("")
        throw new SkrJoseException(s"$what: signing chain of ${subject(chain.head)} refused by the X.509 verifier: $reason")
    }
  }

  /** The checks and texts of _jose.verify_x5c: x5c (leaf first) within validity, each certificate signed by the
   * next, which is a CA (path length respected, RSA key >= 2048 bits), the top a trusted root or issued by one; the
   * leaf not a CA, for digital signatures (key usage when present; extended key usage, when present, serverAuth or
   * any, as Go's verifier in Microsoft's SKR sidecar requires) and naming `host` (the vault or Managed HSM actually
   * called); then the JDK's PKIX validation (name constraints, unknown critical extensions). Stricter than the
   * Python side on one point: a wildcard needs two labels after it. */
  def verifyX5c(x5c: JsonNode, roots: Seq[X509Certificate], host: String, what: String): X509Certificate = {
    if (x5c == null || !x5c.isArray || x5c.size == 0 || x5c.size > 8)
      throw new SkrJoseException(s"$what: header has no x5c certificate chain")
    val chain = x5c.elements().asScala.toSeq.map(n => certificate(n.asText(""), what))
    for (c <- chain) {
      try c.checkValidity() catch {
        case _: java.security.cert.CertificateException =>
          throw new SkrJoseException(s"$what: certificate ${subject(c)} is outside its validity period " +
            s"(${isoDate(c.getNotBefore)} to ${isoDate(c.getNotAfter)})")
      }
    }
    for (((child, parent), depth) <- chain.zip(chain.drop(1)).zipWithIndex) checkIssued(child, parent, depth, what)
    val top = chain.last
    val leaf = chain.head
    val anchored = roots.contains(top) ||
      roots.exists(r => scala.util.Try(checkIssued(top, r, chain.length - 1, what)).isSuccess)
    if (!anchored)
      throw new SkrJoseException(s"$what: signing certificate ${subject(leaf)} does not chain to a trusted root")
    if (leaf.getBasicConstraints >= 0)
      throw new SkrJoseException(s"$what: signing chain of ${subject(leaf)} refused by the X.509 verifier: the " +
        "signing certificate is a CA")
    if (!Option(leaf.getKeyUsage).forall(u => u.nonEmpty && u(0)))
      throw new SkrJoseException(s"$what: signing certificate ${subject(leaf)}: key usage lacks digitalSignature")
    val extended = Option(leaf.getExtendedKeyUsage).map(_.asScala.toSet)
    if (!extended.forall(u => u.contains("1.3.6.1.5.5.7.3.1") || u.contains("2.5.29.37.0")))
      throw new SkrJoseException(s"$what: signing certificate ${subject(leaf)}: extended key usage lacks serverAuth")
    if (host == null || host.isEmpty)
      throw new SkrJoseException(s"$what: no vault host to check the signing certificate against")
    val (ok, names) = hostMatches(leaf, host)
    if (!ok)
      throw new SkrJoseException(s"$what: signing certificate ${subject(leaf)} " +
        s"(${if (names.isEmpty) "no subjectAltName" else names.mkString(", ")}) is not for host $host")
    pkixValidate(chain, roots, what)
    leaf
  }

  private val roots = new ConcurrentHashMap[String, Seq[X509Certificate]]()

  /** The release response's trust roots: releaseTrustRoots, else connectionVerify, else the JDK's CA store. */
  def trustRoots(s: Settings): Seq[X509Certificate] = {
    val key = s.trustRoots.getOrElse("")
    roots.computeIfAbsent(key, k => if (k.nonEmpty) {
      try loadPem(k) catch {
        case e: Exception => throw new SkrConfigException(s"option releaseTrustRoots=$k: cannot load PEM certificates (${e.getClass.getSimpleName})")
      }
    } else {
      val tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm)
      tmf.init(null.asInstanceOf[KeyStore])
      tmf.getTrustManagers.toSeq.collect { case t: javax.net.ssl.X509TrustManager => t.getAcceptedIssuers.toSeq }.flatten
    })
  }

  private def when(seconds: Double): String =
    java.time.format.DateTimeFormatter.ISO_INSTANT.format(java.time.Instant.ofEpochSecond(seconds.toLong))

  /** "" when the MAA token verifies against its issuer's /certs (key by kid, x5c or n/e) and is within nbf/exp;
   * else why not. The same checks and texts as bigdl_ppml_az.kms.attestation.verify_maa_token. */
  def verifyMaaToken(token: String, ca: Option[String], timeoutSeconds: Long): String = {
    val jws = try parseJws(token, "attestation token") catch { case e: SkrJoseException => return e.getMessage }
    val claims = jws.payload
    val issuer = claims.path("iss").asText("")
    val now = System.currentTimeMillis() / 1000.0
    val exp = claims.path("exp")
    if (!exp.isNumber || exp.asDouble < now)
      return s"attestation token expired at ${if (exp.isNumber) when(exp.asDouble) else "never (no exp claim)"} " +
        s"(now ${when(now)}); attest again"
    val nbf = claims.path("nbf")
    if (nbf.isNumber && nbf.asDouble > now + 300) return s"attestation token not valid before ${when(nbf.asDouble)}"
    if (jws.header.path("alg").asText("") == "none" || issuer == "none") return "attestation token is unsigned (attestation=none)"
    if (!issuer.startsWith("https://")) return s"attestation token issuer '$issuer' is not an https attestation provider"
    val jwks = try httpJson(s"${issuer.stripSuffix("/")}/certs", None, ca, timeoutSeconds, "MAA signing keys")
    catch { case e: SkrException => return e.getMessage }
    verifyTokenWithJwks(jws, issuer, jwks)
  }

  /** "" when a key of `jwks` with the token's kid verifies it, else why not (a kid the JWKS does not list is
   * refused even if another listed key would verify). The same texts as attestation.verify_token_with_jwks. */
  def verifyTokenWithJwks(jws: Jws, issuer: String, jwks: JsonNode): String = {
    val kidNode = jws.header.get("kid")
    if (kidNode == null || !kidNode.isTextual || kidNode.asText().isEmpty)
      return "attestation token has no kid header naming its signing key"
    val kid = kidNode.asText()
    val listed = Option(jwks.get("keys")).filter(_.isArray).map(_.elements().asScala.toSeq).getOrElse(Nil)
    val keys = listed.filter(k => k.isObject && k.path("kid").isTextual && k.path("kid").asText() == kid)
    if (keys.isEmpty) return s"attestation token is signed by key '$kid', which $issuer/certs does not list"
    val problems = scala.collection.mutable.ArrayBuffer[String]()
    for (key <- keys) {
      try { verifyRs256(jws, jwksPublicKey(key), "attestation token"); return "" }
      catch { case e: SkrException => problems += e.getMessage }
    }
    problems.find(!_.contains("does not verify")).getOrElse(
      s"attestation token signature does not verify with $issuer/certs key '$kid' (signed by an unknown key)")
  }

  /** Before a release: the token comes from the configured MAA instance and carries this worker's runtime key
   * (attestation.check_token_binding). */
  def checkTokenBinding(token: String, maa: String, runtime: Runtime): Unit = {
    val claims = try parseJws(token, "attestation token").payload catch { case e: SkrJoseException => throw new SkrException(e.getMessage) }
    val issuer = claims.path("iss").asText("")
    def norm(u: String) = u.trim.stripSuffix("/").toLowerCase(Locale.ROOT)
    if (norm(issuer) != norm(maa))
      throw new SkrException(s"attestation token issuer '$issuer' is not the configured maaEndpoint $maa: refusing to " +
        "use a token from another attestation provider")
    val keys = claims.path("x-ms-runtime").path("keys")
    val carried = keys.isArray && keys.elements().asScala.exists { k =>
      k.path("kid").asText(null) == runtime.kid && k.path("n").asText(null) == runtime.n && k.path("e").asText(null) == runtime.e
    }
    if (!carried)
      throw new SkrException("attestation token does not carry this worker's runtime key in x-ms-runtime.keys; the " +
        "evidence provider attested other runtime data")
  }

  /** The built-in role that grants release: Managed HSM has its own (local RBAC) role name. */
  def releaseRole(vaultUrl: String): String =
    if (Option(URI.create(vaultUrl).getHost).getOrElse("").toLowerCase(Locale.ROOT).endsWith(".managedhsm.azure.net"))
      "Managed HSM Crypto Service Release User"
    else "Key Vault Crypto Service Release User"

  // ---- the release exchange --------------------------------------------------------------------------------
  private val retryable = Set(408, 429, 500, 502, 503, 504)

  /** One release of one key for one settings/token pair. */
  final class Release(s: Settings, accessToken: String) {
    private def vaultHost: String = URI.create(s.vaultUrl).getHost

    /** A Key Vault call (GET without a body, POST with one), retried on 408/429/5xx and transport errors
     * (kmsRetryTotal times; Retry-After honoured up to 10 s), as the SDK's retry policy does for the Python worker. */
    private def keyVault(url: String, body: Option[String]): Answer = {
      if (accessToken == null || accessToken.isEmpty)
        throw new SkrConfigException(s"kms=azure-skr on the JVM path: no Key Vault access token in $AccessToken " +
          "(bigdl_ppml_az.jvm.prepare_read sets it from the credential options on the driver)")
      var attempt = 0
      while (true) {
        val answer = try Some(exchange(url, body, Seq("Authorization" -> s"Bearer $accessToken"), s.connectionVerify,
          s.kvTimeoutSeconds, "Key Vault")) catch {
          case _: SkrTransientException if attempt < s.retryTotal => None
        }
        answer match {
          case Some(a) if !(retryable(a.status) && attempt < s.retryTotal) => return a
          case Some(a) =>
            val wait = PpmlKmsClient.retryAfterSeconds(a.retryAfter, java.time.ZonedDateTime.now())
            Thread.sleep(math.min(wait, 10L) * 1000L)
          case None => Thread.sleep(math.min(1L << attempt, 10L) * 200L)
        }
        attempt += 1
      }
      throw new IllegalStateException("unreachable")
    }

    private def getKey(keyUrl: String): JsonNode = {
      val answer = keyVault(s"$keyUrl?api-version=$KvApiVersion", None)
      if (answer.status != 200)
        throw new SkrException(s"Key Vault get key $keyUrl failed: HTTP ${answer.status} ${errorDetail(answer.body)}")
      mapper.readTree(answer.body)
    }

    /** The public key of an exportable key with a release policy (else no enclave could unwrap what it wraps). */
    def releasablePublicKey(keyUrl: String): PublicKey = {
      val node = getKey(keyUrl)
      val exportable = node.path("attributes").path("exportable").asBoolean(false)
      if (!exportable || !node.path("release_policy").isObject)
        throw new SkrException(s"Key Vault key $keyUrl is not exportable with a release policy, so no enclave could " +
          "ever unwrap data wrapped to it; create the key with `ppml-az keys create --kms azure-skr` (or use kms=azure)")
      try rsaPublicFromJwk(node.path("key")) catch {
        case _: SkrJoseException => throw new SkrException(s"Key Vault key $keyUrl is not an RSA key; azure-skr needs an exportable RSA-HSM key")
      }
    }

    /** Refuse attestation=none unless the key's release policy names the authority "none" (emulator only). */
    private def refuseUnattestedUnlessAllowed(keyUrl: String): Unit = {
      val allowed = scala.util.Try {
        val data = getKey(keyUrl).path("release_policy").path("data").asText("")
        val policy = mapper.readTree(unb64url(data, "release policy"))
        val anyOf = policy.properties().asScala.find(_.getKey.equalsIgnoreCase("anyOf")).map(_.getValue)
        anyOf.exists(list => list.isArray && list.elements().asScala.exists { entry =>
          entry.properties().asScala.find(_.getKey.equalsIgnoreCase("authority"))
            .exists(a => a.getValue.asText("").trim.stripSuffix("/").toLowerCase(Locale.ROOT) == "none")
        })
      }.getOrElse(false)
      if (!allowed)
        throw new SkrConfigException(s"option attestation=none: the release policy of key $keyUrl admits no " +
          "unattested release (no authority \"none\"); use attestation=sgx-gramine or sevsnp-sidecar")
    }

    /** The versioned key id: the recorded one, or the current version of a key named without one. */
    private def versioned(keyUrl: String): String = parseKeyId(keyUrl) match {
      case Some((_, _, version)) if version.nonEmpty => keyUrl
      case _ =>
        val kid = getKey(keyUrl).path("key").path("kid").asText("")
        parseKeyId(kid).filter(_._3.nonEmpty).map(_ => keyIdInVault(s.vaultUrl, kid)).getOrElse(
          throw new SkrException(s"Key Vault key $keyUrl: the service did not name its current version"))
    }

    def release(requested: String): Released = {
      if (s.attestation.isEmpty)
        throw new SkrConfigException("option attestation is required to read with kms=azure-skr: sgx-gramine (Gramine " +
          "SGX enclave), sevsnp-sidecar (confidential containers) or none (development)")
      val keyUrl = versioned(requested)
      if (s.attestation == "none") refuseUnattestedUnlessAllowed(keyUrl)
      val t0 = System.nanoTime()
      val runtime = runtimeKey(s.runtimeBits)
      val t1 = System.nanoTime()
      val token = attestationToken(s, runtime)
      val t2 = System.nanoTime()
      attestationCalls += 1
      if (s.attestation != "none") checkTokenBinding(token, s.maa, runtime)
      val claims = try parseJws(token, "attestation token").payload catch {
        case e: SkrJoseException => throw new SkrException(e.getMessage)
      }
      val exp = claims.path("exp")
      if (!exp.isNumber)
        throw new SkrException("attestation token has no exp claim; the released key's lifetime could not be bounded")
      val nonceBytes = new Array[Byte](16)
      random.nextBytes(nonceBytes)
      val nonce = b64url(nonceBytes)
      val body = mapper.createObjectNode().put("target", token).put("enc", s.releaseAlgorithm).put("nonce", nonce)
      val answer = keyVault(s"$keyUrl/release?api-version=$KvApiVersion", Some(mapper.writeValueAsString(body)))
      if (answer.status != 200) throw refused(answer, keyUrl, token)
      val t3 = System.nanoTime()
      releaseCalls += 1
      val value = scala.util.Try(mapper.readTree(answer.body).path("value").asText("")).getOrElse("")
      val key = open(value, keyUrl, runtime, nonce)
      def ms(a: Long, b: Long) = (b - a) / 1000000L
      lastReleasePhases = s"keygen=${ms(t0, t1)},attest=${ms(t1, t2)},release=${ms(t2, t3)},open=${ms(t3, System.nanoTime())}"
      new Released(keyUrl, key, (exp.asDouble * 1000).toLong)
    }

    /** Name what did not match: the token itself (signature, issuer, expiry), else the service's message. */
    private def refused(answer: Answer, keyUrl: String, token: String): Exception = {
      val service = errorDetail(answer.body)
      val status = answer.status
      if (status == 401 || (status == 403 && service.toLowerCase(Locale.ROOT).contains("permission")))
        return new SkrException(s"permission denied on Key Vault key $keyUrl for release using the driver's access " +
          s"token: grant the identity keys/release (role ${releaseRole(s.vaultUrl)}); $service")
      val reason = if (status == 400 || status == 403) {
        if (s.attestation == "none") "" else verifyMaaToken(token, s.maaCa, s.timeoutSeconds)
      } else ""
      new SkrException(s"Key Vault refused to release key $keyUrl to this worker (HTTP $status): " +
        (if (reason.nonEmpty) reason else service))
    }

    /** Verify the release JWS and unwrap the key it carries; any mismatch is refused before the key is used. */
    def open(value: String, keyUrl: String, runtime: Runtime, nonce: String): PrivateKey = {
      val what = s"release response for $keyUrl"
      def refuse(reason: String) = new SkrException(s"refusing the key release: $reason")
      val (jwk, hsm) = try {
        val jws = parseJws(value, what)
        val leaf = verifyX5c(jws.header.path("x5c"), trustRoots(s), vaultHost, what)
        if (!leaf.getPublicKey.isInstanceOf[RSAPublicKey]) throw new SkrJoseException(s"$what: signing certificate is not RSA")
        verifyRs256(jws, leaf.getPublicKey, what)
        val key = jws.payload.path("response").path("key").path("key")
        val kid = key.path("kid").asText("")
        if (!key.isObject || !sameKeyId(kid, keyUrl))
          throw new SkrJoseException(s"$what: names key '${if (kid.isEmpty) "None" else kid}', not the requested $keyUrl")
        val echoed = jws.payload.path("request").get("nonce")
        if (echoed != null && !echoed.isNull && echoed.asText() != nonce)
          throw new SkrJoseException(s"$what: answers another request (nonce differs): a replayed response")
        val expected = rsaPublicFromJwk(key)
        val hsm = mapper.readTree(unb64url(key.path("key_hsm").asText(""), "key_hsm"))
        (expected, hsm)
      } catch {
        case e: SkrJoseException => throw refuse(e.getMessage)
        case e: SkrException => throw refuse(e.getMessage)
        case _: java.io.IOException | _: java.security.GeneralSecurityException | _: RuntimeException =>
          throw refuse(s"$what is malformed")
      }
      val header = hsm.path("header")
      if (!header.isObject || header.path("kid").asText("") != runtime.kid)
        throw refuse(s"$what is wrapped to another runtime key (a replayed or redirected response)")
      val enc = header.path("enc").asText("")
      if (enc != s.releaseAlgorithm) throw refuse(s"$what uses '$enc', not ${s.releaseAlgorithm}")
      val privateKey = try {
        val blob = unb64url(hsm.path("ciphertext").asText(""), "key_hsm ciphertext")
        val size = runtime.modulusBytes
        if (blob.length <= size) throw new java.security.GeneralSecurityException("short")
        val aes = oaep(Cipher.DECRYPT_MODE, runtime.privateKey, ReleaseHashes(enc)).doFinal(blob, 0, size)
        val kwp = Cipher.getInstance("AES/KWP/NoPadding")
        kwp.init(Cipher.DECRYPT_MODE, new SecretKeySpec(aes, "AES"))
        JArrays.fill(aes, 0.toByte)
        val der = kwp.doFinal(blob, size, blob.length - size)
        try KeyFactory.getInstance("RSA").generatePrivate(new PKCS8EncodedKeySpec(der)) finally JArrays.fill(der, 0.toByte)
      } catch {
        case _: java.security.GeneralSecurityException | _: SkrException | _: IllegalArgumentException =>
          throw refuse(s"$what does not unwrap with this worker's runtime key")
      }
      val matches = (privateKey, jwk) match {
        case (k: RSAPrivateCrtKey, p: RSAPublicKey) => k.getModulus == p.getModulus && k.getPublicExponent == p.getPublicExponent
        case _ => false
      }
      if (!matches) throw refuse(s"the key in $what does not match the key it names")
      privateKey
    }
  }

  // ---- PME (PpmlKmsClient) ---------------------------------------------------------------------------------
  private val publicKeys = new ConcurrentHashMap[String, PublicKey]()

  /** Wrap locally with the primary key's public key (RSA-OAEP-256): writers never attest or release. */
  def wrapLocally(s: Settings, token: String, keyUrl: String, data: Array[Byte]): Array[Byte] = {
    val public = publicKeys.computeIfAbsent(s.identity + "|" + keyUrl, _ => new Release(s, token).releasablePublicKey(keyUrl))
    oaep(Cipher.ENCRYPT_MODE, public, "SHA-256").doFinal(data)
  }
}

/** Errors of the SKR worker side: same texts as the Python side, never key material. */
class SkrException(message: String) extends PpmlException(message)
class SkrConfigException(message: String) extends SkrException(message)
class SkrJoseException(message: String) extends SkrException(message)
class SkrTransientException(message: String) extends SkrException(message)
