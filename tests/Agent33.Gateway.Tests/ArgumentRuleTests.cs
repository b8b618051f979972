using System.Text.Json.Nodes;
using Agent33.Gateway.Catalog;

namespace Agent33.Gateway.Tests;

/// <summary>Argument rules judged alone: paths under a prefix after <c>..</c> is resolved, URL hosts, value globs, missing values, arrays, deny rules.</summary>
public sealed class ArgumentRuleTests
{
    private static bool Refuses(ArgumentRule rule, string arguments, string tool = "read_file") => rule.Refuses(tool, JsonNode.Parse(arguments) as JsonObject);

    private static readonly ArgumentRule UnderWorkspace = new() { Name = "workspace", Tool = "read_*", Pointer = "/path", Under = ["/workspace/"] };

    [Theory]
    [InlineData("""{"path":"/workspace/notes.md"}""", false)]
    [InlineData("""{"path":"/workspace"}""", false)]
    [InlineData("""{"path":"/workspace/a/../b.md"}""", false)]
    [InlineData("""{"path":"/workspace/../etc/passwd"}""", true)]
    [InlineData("""{"path":"/workspace-evil/x"}""", true)]
    [InlineData("""{"path":"relative/x"}""", true)]
    [InlineData("""{"path":"/../../workspace/x"}""", true)]
    [InlineData("""{"path":"\\workspace\\x"}""", false)]
    [InlineData("""{"path":42}""", true)]
    [InlineData("""{"other":"/workspace/x"}""", true)]
    [InlineData("""{"path":["/workspace/a","/etc/b"]}""", true)]
    [InlineData("""{"path":["/workspace/a","/workspace/b"]}""", false)]
    [InlineData("""{"path":[]}""", true)]
    public void A_path_rule_allows_only_paths_under_its_prefix(string arguments, bool refused) =>
        Assert.Equal(refused, Refuses(UnderWorkspace, arguments));

    [Fact]
    public void A_rule_judges_only_the_tools_its_glob_names() =>
        Assert.False(Refuses(UnderWorkspace, """{"path":"/etc/passwd"}""", tool: "write_file"));

    [Theory]
    [InlineData("https://docs.example.com/a", false)]
    [InlineData("https://EXAMPLE.com/a", false)]
    [InlineData("https://example.com.evil.net/a", true)]
    [InlineData("https://user@docs.example.com/a", true)]
    [InlineData("ftp://example.com/a", true)]
    [InlineData("example.com", true)]
    public void A_host_rule_allows_only_urls_whose_host_it_lists(string url, bool refused)
    {
        var rule = new ArgumentRule { Name = "hosts", Tool = "fetch", Pointer = "/request/url", Hosts = ["example.com", "*.example.com"] };
        Assert.Equal(refused, rule.Refuses("fetch", new JsonObject { ["request"] = new JsonObject { ["url"] = url } }));
    }

    [Fact]
    public void A_deny_rule_refuses_only_what_it_matches_and_lets_a_missing_value_pass()
    {
        var rule = new ArgumentRule { Name = "no-system", Tool = "*", Pointer = "/a~1b/0", Effect = "deny", Match = ["pg_*"] };
        Assert.True(Refuses(rule, """{"a/b":["pg_authid"]}"""));
        Assert.False(Refuses(rule, """{"a/b":["users"]}"""));
        Assert.False(Refuses(rule, """{}"""));
    }

    [Fact]
    public void A_rule_without_a_condition_or_with_a_bad_pointer_is_a_configuration_error()
    {
        Assert.Equal(3, new ArgumentRule { Name = "x", Pointer = "path", Effect = "maybe" }.Problems().Count());
        Assert.Empty(UnderWorkspace.Problems());
    }
}
