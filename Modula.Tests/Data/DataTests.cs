using Modula.Data;

namespace Modula.Tests.Data;

[TestClass]
public sealed class DataTests
{
    private string _dir = "";

    [TestInitialize]
    public void CreateDirectory() => _dir = Directory.CreateTempSubdirectory("modula-data-").FullName;

    [TestCleanup]
    public void DeleteDirectory() => Directory.Delete(_dir, recursive: true);

    [TestMethod]
    public void AFailedDownloadLeavesNoFoldersBehind()
    {
        // Nothing listens on port 9 here: the connection is refused before anything is written.
        var file = new DataFile("nested/set/file.gz", new string('0', 64), "http://127.0.0.1:9/file.gz");
        string root = Path.Combine(_dir, "data");
        var e = Assert.ThrowsExactly<DataException>(() =>
            DataFiles.Locate(file, root, download: true, TextWriter.Null)
        );
        StringAssert.Contains(e.Message, "Downloading http://127.0.0.1:9/file.gz failed");
        Assert.IsFalse(Directory.Exists(root), "the failed download created its target folders");
    }

    [TestMethod]
    public void IdxFilesRoundTripAndRejectDamage()
    {
        var images = new IdxArray([3, 2, 4], Enumerable.Range(0, 24).Select(i => (byte)(i * 10)).ToArray());
        string path = Path.Combine(_dir, "images.gz");
        images.Write(path);
        var back = IdxArray.Read(path);
        CollectionAssert.AreEqual(images.Dims, back.Dims);
        CollectionAssert.AreEqual(images.Data, back.Data);

        var labels = new IdxArray([3], [0, 9, 4]);
        labels.Write(Path.Combine(_dir, "labels.gz"));
        var dataset = new ImageDataset(back, IdxArray.Read(Path.Combine(_dir, "labels.gz")));
        Assert.AreEqual((3, 2, 4), (dataset.Count, dataset.Height, dataset.Width));
        var image = new float[8];
        dataset.CopyImage(2, image);
        Assert.AreEqual((float)((230 / 255.0 - ImageDataset.Mean) / ImageDataset.Std), image[^1], 1e-6f);
        Assert.AreEqual((float)((160 / 255.0 - ImageDataset.Mean) / ImageDataset.Std), image[0], 1e-6f);

        string bad = Path.Combine(_dir, "truncated.gz");
        using (var f = File.Create(bad))
        using (var gz = new System.IO.Compression.GZipStream(f, System.IO.Compression.CompressionLevel.Fastest))
            gz.Write([0, 0, 8, 1, 0, 0, 0, 50, 1, 2, 3]); // the header promises 50 bytes
        StringAssert.Contains(Assert.ThrowsExactly<DataException>(() => IdxArray.Read(bad)).Message, "truncated");
        File.WriteAllBytes(bad, [1, 2, 3, 4, 5]);
        Assert.ThrowsExactly<DataException>(() => IdxArray.Read(bad));
        Assert.ThrowsExactly<DataException>(() => new ImageDataset(images, new IdxArray([2], [0, 1])));
    }

    [TestMethod]
    public void TextCorpusSplitsNinetyTenWithASortedVocabulary()
    {
        var corpus = new TextCorpus("hello world, hello modula\n" + new string('z', 74));
        Assert.AreEqual("\n ,adehlmoruwz", corpus.Vocabulary);
        Assert.AreEqual(90, corpus.Train.Length);
        Assert.AreEqual(10, corpus.Test.Length);
        Assert.AreEqual("hello", corpus.Decode(corpus.Encode("hello")));
        Assert.ThrowsExactly<ArgumentException>(() => corpus.Encode("Q"));
    }

    [TestMethod]
    public void LocateVerifiesChecksumsAndExplainsWhereItLooked()
    {
        File.WriteAllText(Path.Combine(_dir, "tiny.txt"), "abc");
        var good = new DataFile(
            "tiny.txt",
            DataFiles.Sha256Of(Path.Combine(_dir, "tiny.txt")),
            "https://example.invalid/tiny.txt"
        );
        Assert.AreEqual(Path.Combine(_dir, "tiny.txt"), DataFiles.Locate(good, _dir, download: false, TextWriter.Null));

        var wrong = good with { Sha256 = new string('0', 64) };
        StringAssert.Contains(
            Assert.ThrowsExactly<DataException>(() => DataFiles.Locate(wrong, _dir, false, TextWriter.Null)).Message,
            "is corrupt"
        );

        var missing = good with { RelativePath = "nowhere/missing.txt" };
        var e = Assert.ThrowsExactly<DataException>(() => DataFiles.Locate(missing, _dir, false, TextWriter.Null));
        StringAssert.Contains(e.Message, Path.Combine(_dir, "nowhere/missing.txt"));
        StringAssert.Contains(e.Message, Path.Combine("data", "nowhere/missing.txt"));
        StringAssert.Contains(e.Message, "--no-download");
        StringAssert.Contains(e.Message, "https://example.invalid/tiny.txt");

        // A folder where the file should be is named as one (a fuzzing run's message said only "cannot find").
        Directory.CreateDirectory(Path.Combine(_dir, "nowhere", "missing.txt"));
        e = Assert.ThrowsExactly<DataException>(() => DataFiles.Locate(missing, _dir, false, TextWriter.Null));
        StringAssert.Contains(e.Message, Path.Combine(_dir, "nowhere/missing.txt") + " (a folder, not the file)");
    }

    [TestMethod]
    public void ADeviceOrPipeWhereADataFileShouldBeIsRefusedWithoutWaitingOrHashingForever()
    {
        // Found by fuzzing the command line: a named pipe there made `train gpt` wait for a writer, and a link to
        // /dev/zero hashed an endless stream.
        if (!File.Exists("/dev/zero"))
            Assert.Inconclusive("/dev/zero and mkfifo: Unix only.");
        var file = new DataFile("set/data.txt", new string('0', 64), "https://example.invalid/data.txt");
        string path = Path.Combine(_dir, "set", "data.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        void IsRefused(string what)
        {
            var locate = Task.Run(() => DataFiles.Locate(file, _dir, download: false, TextWriter.Null));
            bool finished = ((IAsyncResult)locate).AsyncWaitHandle.WaitOne(10_000);
            if (!finished && File.Exists(path))
                File.Delete(path); // lets a reader stuck on /dev/zero fail; a pipe's reader stays, in the background
            Assert.IsTrue(finished, $"locating {what} did not return");
            var e = Assert.ThrowsExactly<DataException>(() => locate.GetAwaiter().GetResult());
            StringAssert.Contains(e.Message, $"{path} is empty, or a device or pipe, not the data file data.txt", what);
        }
        File.CreateSymbolicLink(path, "/dev/zero");
        IsRefused("a link to /dev/zero");
        File.Delete(path);
        if (System.Diagnostics.Process.Start("mkfifo", path) is not { } mkfifo || !mkfifo.WaitForExit(10_000))
            Assert.Inconclusive("mkfifo did not run.");
        IsRefused("a named pipe");
        File.Delete(path);
        File.WriteAllBytes(path, []);
        IsRefused("an empty file");
        File.Delete(path);
        // A loop of links: named as one, with the exit code of a damaged file, not the system's I/O error.
        File.CreateSymbolicLink(path, path + ".other");
        File.CreateSymbolicLink(path + ".other", path);
        var loop = Assert.ThrowsExactly<DataException>(() =>
            DataFiles.Locate(file, _dir, download: false, TextWriter.Null)
        );
        StringAssert.Contains(loop.Message, $"{path} is a loop of symbolic links, not the data file data.txt");
    }
}
