import Testing
@testable import AegisClient

@Suite struct EndpointTests {
    @Test func parsesTheUsualForms() throws {
        #expect(try Endpoint(parsing: "http://127.0.0.1:9090").description == "http://127.0.0.1:9090")
        #expect(try Endpoint(parsing: "localhost").description == "http://localhost:9090")
        #expect(try Endpoint(parsing: "https://db.example:8443/").description == "https://db.example:8443")
        #expect(try Endpoint(parsing: " node-2:7000 ").port == 7000)
    }

    @Test(arguments: ["ftp://x", "http://host:0", "http://host:99999", "http://host/path", "", "http://:80", "ho st"])
    func rejectsBadEndpointsWithASentence(text: String) {
        #expect(throws: ClientError.self) { try Endpoint(parsing: text) }
        do {
            _ = try Endpoint(parsing: text)
        } catch {
            #expect(error.description.contains("use a form like http://127.0.0.1:9090"))
        }
    }
}

@Suite struct RetryPolicyTests {
    @Test func backoffDoublesUpToTheCapAndStops() {
        let policy = RetryPolicy(attemptsMax: 6, initialDelayMilliseconds: 100, delayMaxMilliseconds: 500)
        #expect(policy.delayMilliseconds(beforeAttempt: 1, jitterUnit: 0) == nil)
        #expect(policy.delayMilliseconds(beforeAttempt: 2, jitterUnit: 0.999999) == 99)
        #expect(policy.delayMilliseconds(beforeAttempt: 3, jitterUnit: 0) == 100)
        #expect(policy.delayMilliseconds(beforeAttempt: 4, jitterUnit: 0) == 200)
        #expect(policy.delayMilliseconds(beforeAttempt: 5, jitterUnit: 0) == 250)
        #expect(policy.delayMilliseconds(beforeAttempt: 6, jitterUnit: 0) == 250)
        #expect(policy.delayMilliseconds(beforeAttempt: 7, jitterUnit: 0) == nil)
    }
}
