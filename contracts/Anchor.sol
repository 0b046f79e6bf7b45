// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ChannelTrace checkpoint anchor
/// @notice Records that the log's owner published a Merkle tree root of a given size.
/// Anyone finds the anchor of a root with eth_getLogs filtered on the indexed root;
/// nothing is stored, so an anchor costs one log (about 24k gas).
contract Anchor {
    /// @notice The account allowed to anchor: the deployer.
    address public immutable owner;

    /// @notice The log's tree of `size` leaves has Merkle root `root` (RFC 9162).
    event Anchored(bytes32 indexed root, uint64 size);

    error NotOwner(address caller);
    error EmptyTree();

    constructor() {
        owner = msg.sender;
    }

    /// @notice Anchor a signed checkpoint's root and tree size.
    function anchor(bytes32 root, uint64 size) external {
        if (msg.sender != owner) revert NotOwner(msg.sender);
        if (size == 0) revert EmptyTree();
        emit Anchored(root, size);
    }
}
